// The JSON envelope helpers and listen-address parsing of herald::http.
#include <gtest/gtest.h>

#include <stdexcept>

#include "herald/http/config.hpp"
#include "herald/http/message.hpp"

namespace {

namespace bhttp = boost::beast::http;
using herald::http::json_quote;

TEST(http_json_quote, escapes_what_json_requires) {
  EXPECT_EQ(json_quote("plain"), R"("plain")");
  EXPECT_EQ(json_quote("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(json_quote("line\nfeed\ttab\r\b\f"), R"("line\nfeed\ttab\r\b\f")");
  EXPECT_EQ(json_quote(std::string_view("nul\0x\x1f", 6)), R"("nul\u0000x\u001f")");
  EXPECT_EQ(json_quote("/ and \x7f stay"), "\"/ and \x7f stay\"");
}

TEST(http_json_quote, keeps_valid_utf8_and_replaces_invalid_bytes) {
  EXPECT_EQ(json_quote("Привет, 世界 😀"), "\"Привет, 世界 😀\"");
  EXPECT_EQ(json_quote("a\xff"
                       "b"),
            R"("a\ufffdb")");
  EXPECT_EQ(json_quote("\xc3"), R"("\ufffd")");                                // truncated
  EXPECT_EQ(json_quote("\xc0\xaf"), R"("\ufffd\ufffd")");                      // overlong '/'
  EXPECT_EQ(json_quote("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");            // a surrogate
  EXPECT_EQ(json_quote("\xf4\x90\x80\x80"), R"("\ufffd\ufffd\ufffd\ufffd")");  // past U+10FFFF
}

TEST(http_error_reply, is_the_envelope_with_a_matching_status) {
  auto res = herald::http::error_reply(bhttp::status::payload_too_large, 400, "Invalid request",
                                       "http: request body too large");
  EXPECT_EQ(res.result(), bhttp::status::payload_too_large);
  EXPECT_EQ(res.body(), R"({"error": 400, "error_debug": "http: request body too large", )"
                        R"("error_text": "Invalid request"})");
  EXPECT_EQ(res[bhttp::field::content_type], "application/json");
  EXPECT_EQ(res[bhttp::field::content_length], std::to_string(res.body().size()));

  auto plain = herald::http::error_reply(bhttp::status::not_found, 404, "Not \"found\"");
  EXPECT_EQ(plain.body(), R"({"error": 404, "error_text": "Not \"found\""})");
}

TEST(http_json_reply, sets_version_keep_alive_and_length) {
  auto res = herald::http::json_reply(bhttp::status::ok, "{}", 10, false);
  EXPECT_EQ(res.version(), 10u);
  EXPECT_FALSE(res.keep_alive());
  EXPECT_EQ(res[bhttp::field::content_length], "2");
  EXPECT_TRUE(herald::http::json_reply(bhttp::status::ok, "{}").keep_alive());
}

TEST(http_listen_address, splits_host_and_port) {
  using herald::http::parse_listen_address;
  auto a = parse_listen_address("127.0.0.1:8080");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 8080);
  EXPECT_EQ(parse_listen_address("localhost:0").port, 0);
  auto v6 = parse_listen_address("[::1]:443");
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.port, 443);
  EXPECT_EQ(parse_listen_address(":9000").host, "");
  EXPECT_EQ(parse_listen_address("*:9000").host, "");
  EXPECT_EQ(parse_listen_address("h:65535").port, 65535);
}

TEST(http_listen_address, rejects_what_does_not_parse_naming_it) {
  using herald::http::parse_listen_address;
  for (const char* bad : {"", "8080", "host:", "host:65536", "host:-1", "host:80x", "::1:80",
                          "[::1]80", "[::1", "[]:80"}) {
    try {
      parse_listen_address(bad);
      ADD_FAILURE() << "accepted \"" << bad << "\"";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("\"" + std::string(bad) + "\""), std::string::npos)
          << e.what();
    }
  }
}

}  // namespace
