// proto/ and the code agree: example jobs are valid and accepted by their handlers, the job
// types the schema lists are the registered ones, and status replies match their schema.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <fstream>
#include <set>

#include "herald/queue/handler.hpp"
#include "herald/queue/task.hpp"
#include "support/process.hpp"

namespace herald::queue {
namespace {

using namespace std::chrono_literals;
const std::filesystem::path proto = std::filesystem::path(HERALD_SOURCE_DIR) / "proto";

// Runs the JSON Schema validator (Debian's python3-jsonschema); its complaints on failure.
std::pair<int, std::string> validate(const std::filesystem::path& schema,
                                     const std::vector<std::filesystem::path>& instances) {
  test::temp_dir dir("herald-contract");
  std::vector<std::string> argv{"/usr/bin/python3",
                                std::string(HERALD_SOURCE_DIR) + "/tests/support/validate_json.py",
                                schema.string()};
  for (const auto& i : instances) argv.push_back(i.string());
  test::child_process p(argv, {}, dir / "out.txt");
  auto code = p.wait_for(30s);
  return {code.value_or(-1), p.log()};
}

std::vector<std::filesystem::path> examples(std::string_view suffix) {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::directory_iterator(proto / "examples"))
    if (e.path().string().ends_with(suffix)) out.push_back(e.path());
  return out;
}

TEST(Contract, ExampleJobsMatchTheSchemaAndTheirHandlersAcceptThem) {
  auto jobs = examples(".job.json");
  ASSERT_GE(jobs.size(), 2u);
  auto [code, complaints] = validate(proto / "schemas/job.schema.json", jobs);
  EXPECT_EQ(code, 0) << complaints;

  handler_registry handlers;
  add_builtin_handlers(handlers);
  for (const auto& path : jobs) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc, body;
    std::string_view type;
    std::uint64_t items = 0;
    ASSERT_FALSE(parser.load(path.string()).get(doc)) << path;
    ASSERT_FALSE(doc["type"].get(type)) << path;
    ASSERT_FALSE(doc["body"].get(body)) << path;
    ASSERT_FALSE(body["items"].get(items)) << path;
    const job_handler* h = handlers.find(type);
    ASSERT_TRUE(h) << path << ": no handler for " << type;
    std::string text = simdjson::minify(body);
    EXPECT_EQ(h->prepare(text)->total(), items) << path;
  }
}

TEST(Contract, TheSchemaListsExactlyTheRegisteredJobTypes) {
  simdjson::dom::parser parser;
  simdjson::dom::element schema;
  simdjson::dom::array types_listed;
  ASSERT_FALSE(parser.load((proto / "schemas/job.schema.json").string()).get(schema));
  ASSERT_FALSE(schema["properties"]["type"]["enum"].get(types_listed));
  std::set<std::string> listed;
  for (auto t : types_listed) {
    std::string_view name;
    ASSERT_FALSE(t.get(name));
    listed.insert(std::string(name));
  }
  handler_registry handlers;
  add_builtin_handlers(handlers);
  auto types = handlers.types();
  EXPECT_EQ(listed, std::set<std::string>(types.begin(), types.end()));
}

TEST(Contract, StatusRepliesMatchTheirSchema) {
  test::temp_dir dir("herald-contract");
  std::vector<std::filesystem::path> replies = examples(".reply.json");
  task_record queued{
      .task_id = "t-1", .type = "noop", .account = "acme", .total = 5, .created_at = 1795411152132};
  task_record done = queued;
  done.status = task_status::completed;
  done.processed = done.total;
  done.sent = 3;
  done.started_at = done.created_at + 5;
  done.finished_at = done.started_at + 10;
  done.expires_at = done.finished_at + 1000;
  task_record failed = queued;
  failed.status = task_status::failed;
  failed.error_text = "body.items: must be a non-negative integer \"quoted\"";
  failed.run_at = done.created_at + 60'000;
  std::vector<item_outcome> outcomes{{0, item_outcome::kind::sent, "61e947333f62fc26d384452c"},
                                     {1, item_outcome::kind::failed, "", "bad", "why"}};
  int n = 0;
  for (const auto* t : {&queued, &done, &failed}) {
    auto path = dir / ("reply-" + std::to_string(n++) + ".json");
    std::ofstream(path) << status_reply_json(*t, outcomes);
    replies.push_back(path);
  }
  auto [code, complaints] = validate(proto / "schemas/task-status.schema.json", replies);
  EXPECT_EQ(code, 0) << complaints;

  // And the schema can fail: a reply without data is refused.
  auto broken = dir / "broken.json";
  std::ofstream(broken) << R"({"error": 0, "error_text": "Successful operation"})";
  EXPECT_EQ(validate(proto / "schemas/task-status.schema.json", {broken}).first, 1);
}

}  // namespace
}  // namespace herald::queue
