#include "herald/log/log.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <optional>
#include <string>

#include <spdlog/logger.h>
#include <spdlog/spdlog.h>

#include "support/process.hpp"

namespace {

using herald::log::output_style;
using spdlog::level::level_enum;

// 2024-05-01T12:00:00.123Z
const auto fixed_time = spdlog::log_clock::time_point(std::chrono::milliseconds(1714564800123));

spdlog::details::log_msg make_msg(level_enum level, std::string_view text,
                                  std::string_view logger = "") {
  return spdlog::details::log_msg(fixed_time, spdlog::source_loc{}, logger, level, text);
}

struct json_line {
  std::string ts, level, msg, logger;
  std::size_t fields = 0;
};

json_line parse_json(const std::string& line) {
  EXPECT_TRUE(line.ends_with("\n"));
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line per record";
  simdjson::dom::parser parser;
  simdjson::dom::object obj;
  auto error = parser.parse(simdjson::padded_string(line)).get(obj);
  EXPECT_EQ(error, simdjson::SUCCESS) << line;
  json_line out;
  if (error) return out;
  for (auto field : obj) {
    ++out.fields;
    std::string_view value;
    EXPECT_EQ(field.value.get(value), simdjson::SUCCESS) << field.key;
    if (field.key == "ts") out.ts = value;
    if (field.key == "level") out.level = value;
    if (field.key == "msg") out.msg = value;
    if (field.key == "logger") out.logger = value;
  }
  return out;
}

TEST(log, level_names) {
  const std::pair<const char*, level_enum> levels[] = {
      {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug},
      {"info", spdlog::level::info},   {"warn", spdlog::level::warn},
      {"error", spdlog::level::err},   {"critical", spdlog::level::critical},
      {"off", spdlog::level::off}};
  for (const auto& [name, level] : levels) {
    EXPECT_EQ(herald::log::parse_level(name), level) << name;
    EXPECT_EQ(herald::log::level_name(level), name);
  }
  for (const char* bad : {"", "warning", "INFO", "err", "loud"}) {
    EXPECT_FALSE(herald::log::parse_level(bad)) << bad;
  }
  EXPECT_EQ(herald::log::parse_format("text"), herald::log::log_format::text);
  EXPECT_EQ(herald::log::parse_format("json"), herald::log::log_format::json);
  EXPECT_FALSE(herald::log::parse_format("journal"));
}

TEST(log, journal_priorities_follow_sd_daemon_h) {
  EXPECT_EQ(herald::log::journal_priority(spdlog::level::trace), 7);
  EXPECT_EQ(herald::log::journal_priority(spdlog::level::debug), 7);
  EXPECT_EQ(herald::log::journal_priority(spdlog::level::info), 6);
  EXPECT_EQ(herald::log::journal_priority(spdlog::level::warn), 4);
  EXPECT_EQ(herald::log::journal_priority(spdlog::level::err), 3);
  EXPECT_EQ(herald::log::journal_priority(spdlog::level::critical), 2);
}

TEST(log, terminal_lines_carry_local_time_and_level) {
  const std::time_t t = 1714564800;
  std::tm tm{};
  localtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
  EXPECT_EQ(
      herald::log::format_line(make_msg(spdlog::level::info, "hello"), output_style::terminal),
      std::string(stamp) + ".123 [info] hello\n");
  EXPECT_EQ(herald::log::format_line(make_msg(spdlog::level::warn, "careful", "http"),
                                     output_style::terminal),
            std::string(stamp) + ".123 [warn] [http] careful\n");
}

TEST(log, journal_lines_have_a_priority_and_no_timestamp) {
  using herald::log::format_line;
  EXPECT_EQ(format_line(make_msg(spdlog::level::info, "ready"), output_style::journal),
            "<6>ready\n");
  EXPECT_EQ(format_line(make_msg(spdlog::level::debug, "d"), output_style::journal), "<7>d\n");
  EXPECT_EQ(format_line(make_msg(spdlog::level::trace, "t"), output_style::journal), "<7>t\n");
  EXPECT_EQ(format_line(make_msg(spdlog::level::warn, "w"), output_style::journal), "<4>w\n");
  EXPECT_EQ(format_line(make_msg(spdlog::level::err, "e"), output_style::journal), "<3>e\n");
  EXPECT_EQ(format_line(make_msg(spdlog::level::critical, "c"), output_style::journal), "<2>c\n");
  // journald splits lines: each keeps the priority.
  EXPECT_EQ(format_line(make_msg(spdlog::level::err, "first\nsecond"), output_style::journal),
            "<3>first\n<3>second\n");
  EXPECT_EQ(format_line(make_msg(spdlog::level::info, "up", "redis"), output_style::journal),
            "<6>redis: up\n");
}

TEST(log, json_lines_parse_back) {
  const auto line =
      herald::log::format_line(make_msg(spdlog::level::warn, "disk low"), output_style::json);
  const auto j = parse_json(line);
  EXPECT_EQ(j.ts, "2024-05-01T12:00:00.123Z");
  EXPECT_EQ(j.level, "warn");
  EXPECT_EQ(j.msg, "disk low");
  EXPECT_EQ(j.fields, 3u);
  EXPECT_EQ(line,
            "{\"ts\":\"2024-05-01T12:00:00.123Z\",\"level\":\"warn\",\"msg\":\"disk low\"}\n");

  const auto named = parse_json(herald::log::format_line(
      make_msg(spdlog::level::err, "x", "provider\"a"), output_style::json));
  EXPECT_EQ(named.logger, "provider\"a");
  EXPECT_EQ(named.level, "error");
  EXPECT_EQ(named.fields, 4u);
}

TEST(log, json_escapes_whatever_the_message_holds) {
  const std::string nasty = std::string("quote \" backslash \\ newline \n tab \t cr \r bell \x07 ")
                            + "nul " + std::string(1, '\0') + " del \x7f unicode é ✓ 😀";
  const auto j = parse_json(
      herald::log::format_line(make_msg(spdlog::level::info, nasty), output_style::json));
  EXPECT_EQ(j.msg, nasty);

  // Bytes that are not UTF-8 (from a client, say) become U+FFFD: the line stays valid JSON.
  const std::string invalid =
      "a\xff"
      "b\xc3"
      "c\xed\xa0\x80"
      "d\xc0\xaf"
      "e\xf0\x9f\x98";
  const auto k = parse_json(
      herald::log::format_line(make_msg(spdlog::level::info, invalid), output_style::json));
  EXPECT_EQ(k.msg, "a\uFFFDb\uFFFDc\uFFFD\uFFFD\uFFFDd\uFFFD\uFFFDe\uFFFD\uFFFD\uFFFD");
}

TEST(log, journal_stream_must_name_the_file_descriptor) {
  herald::test::temp_dir dir;
  const auto path = dir / "stderr";
  std::FILE* file = std::fopen(path.c_str(), "w");
  ASSERT_NE(file, nullptr);
  struct stat st {};
  ASSERT_EQ(::fstat(fileno(file), &st), 0);
  const auto dev = std::to_string(st.st_dev), ino = std::to_string(st.st_ino);
  const auto other_ino = std::to_string(st.st_ino + 1);
  EXPECT_TRUE(herald::log::is_journal_stream(dev + ":" + ino, fileno(file)));
  EXPECT_FALSE(herald::log::is_journal_stream(dev + ":" + other_ino, fileno(file)));
  EXPECT_FALSE(herald::log::is_journal_stream("", fileno(file)));
  EXPECT_FALSE(herald::log::is_journal_stream(dev, fileno(file)));
  EXPECT_FALSE(herald::log::is_journal_stream(dev + ":" + ino + "x", fileno(file)));
  EXPECT_FALSE(herald::log::is_journal_stream(dev + ":" + ino, -1));

  using herald::log::choose_style;
  using herald::log::log_format;
  const auto match = dev + ":" + ino;
  EXPECT_EQ(choose_style(log_format::text, match.c_str(), fileno(file)), output_style::journal);
  EXPECT_EQ(choose_style(log_format::text, nullptr, fileno(file)), output_style::terminal);
  EXPECT_EQ(choose_style(log_format::text, (dev + ":" + other_ino).c_str(), fileno(file)),
            output_style::terminal);
  EXPECT_EQ(choose_style(log_format::json, match.c_str(), fileno(file)), output_style::json);
  EXPECT_EQ(choose_style(log_format::json, nullptr, fileno(file)), output_style::json);
  std::fclose(file);
}

TEST(log, stream_sink_writes_whole_lines_at_the_logger_level) {
  char* buffer = nullptr;
  std::size_t size = 0;
  std::FILE* memory = open_memstream(&buffer, &size);
  ASSERT_NE(memory, nullptr);
  {
    auto sink = std::make_shared<herald::log::stream_sink>(memory, output_style::journal);
    spdlog::logger logger("", sink);
    logger.set_level(spdlog::level::info);
    logger.debug("hidden {}", 1);
    logger.info("task {} started", "t-1");
    logger.error("task {} failed", "t-2");
  }
  std::fclose(memory);
  const std::string written(buffer, size);
  std::free(buffer);
  EXPECT_EQ(written, "<6>task t-1 started\n<3>task t-2 failed\n");
}

class log_setup : public ::testing::Test {
 protected:
  void SetUp() override {
    previous_ = spdlog::default_logger();
    if (const char* js = std::getenv("JOURNAL_STREAM")) saved_journal_stream_ = js;
  }
  void TearDown() override {
    spdlog::set_default_logger(previous_);
    if (saved_journal_stream_) {
      ::setenv("JOURNAL_STREAM", saved_journal_stream_->c_str(), 1);
    } else {
      ::unsetenv("JOURNAL_STREAM");
    }
  }

  static std::shared_ptr<herald::log::stream_sink> installed_sink() {
    auto logger = spdlog::default_logger();
    EXPECT_EQ(logger->sinks().size(), 1u);
    return std::dynamic_pointer_cast<herald::log::stream_sink>(logger->sinks().at(0));
  }

  std::shared_ptr<spdlog::logger> previous_;
  std::optional<std::string> saved_journal_stream_;
};

TEST_F(log_setup, installs_the_default_logger_on_stderr) {
  ::unsetenv("JOURNAL_STREAM");
  herald::log::setup_logging(herald::log::log_format::text, spdlog::level::warn);
  auto sink = installed_sink();
  ASSERT_TRUE(sink);
  EXPECT_EQ(sink->style(), output_style::terminal);
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::warn);
  herald::log::set_level(spdlog::level::debug);
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::debug);

  herald::log::setup_logging(herald::log::log_format::json, spdlog::level::info);
  sink = installed_sink();
  ASSERT_TRUE(sink);
  EXPECT_EQ(sink->style(), output_style::json);
}

TEST_F(log_setup, picks_the_journal_style_when_systemd_connected_stderr) {
  struct stat st {};
  ASSERT_EQ(::fstat(STDERR_FILENO, &st), 0);
  const auto value = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  ::setenv("JOURNAL_STREAM", value.c_str(), 1);
  herald::log::setup_logging(herald::log::log_format::text, spdlog::level::info);
  auto sink = installed_sink();
  ASSERT_TRUE(sink);
  EXPECT_EQ(sink->style(), output_style::journal);

  ::setenv("JOURNAL_STREAM", (std::to_string(st.st_dev) + ":1").c_str(), 1);
  herald::log::setup_logging(herald::log::log_format::text, spdlog::level::info);
  sink = installed_sink();
  ASSERT_TRUE(sink);
  EXPECT_EQ(sink->style(), output_style::terminal);
}

}  // namespace

namespace {

TEST(LogMask, EmailsKeepTheirFirstCharactersAndLastLabel) {
  using herald::log::mask_personal;
  EXPECT_EQ(mask_personal(R"(body.matching: unknown mode "leak9@example.com")"),
            R"(body.matching: unknown mode "l***@e***.com")");
  EXPECT_EQ(mask_personal("to a.b+c@mail.example.co.uk."), "to a***@m***.uk.");
  EXPECT_EQ(mask_personal("x@y and z@localhost"), "x***@y*** and z***@l***");
  EXPECT_EQ(mask_personal("\u0434\u0436@\u043f.\u0440\u0444"), "\u0434***@\u043f***.\u0440\u0444");
  // A lone @ is no address.
  EXPECT_EQ(mask_personal("redis://u:***@host:6379 @ noon"), "redis://u:****@h***:6379 @ noon");
  EXPECT_EQ(mask_personal("nothing here"), "nothing here");
}

TEST(LogMask, PhonesKeepTheirPlusAndLastTwoDigits) {
  using herald::log::mask_personal;
  EXPECT_EQ(mask_personal("+79001234567"), "+*********67");
  EXPECT_EQ(mask_personal("call +7 900 123-45-67 now"), "call +*********67 now");
  EXPECT_EQ(mask_personal("(900) 123.4567"), "(********67");
  // Short numbers are not phones.
  EXPECT_EQ(mask_personal("at most 10000 items, got 123456"), "at most 10000 items, got 123456");
}

}  // namespace
