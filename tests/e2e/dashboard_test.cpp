// The dashboard through the built heraldd: GET / and its assets with their types, a strict
// Content-Security-Policy and caching headers; then the page itself in headless Chromium at a
// phone's size (tests/support/dashboard_browser.py) against a heraldd with a long job running,
// a finished import and dead letters: its progress bar advances, its figures are right, the
// import's item outcomes open on a click, and the browser logs no error. The screenshot is kept
// in build/test-artefacts/dashboard.png.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "herald/auth/tokens.hpp"
#include "herald/dashboard/assets.hpp"
#include "support/herald_cli.hpp"
#include "support/heraldd.hpp"
#include "support/json_doc.hpp"
#include "support/process.hpp"
#include "support/redis_server.hpp"
#include "support/secrets.hpp"

namespace herald::test {
namespace {

using namespace std::chrono_literals;

TEST(DashboardE2E, ServesThePageAndItsAssetsWithTypesAndHeaders) {
  heraldd_process heraldd;

  struct expected {
    std::string path, type;
  };
  const expected files[] = {{"/", "text/html; charset=utf-8"},
                            {"/dashboard/app.js", "text/javascript; charset=utf-8"},
                            {"/dashboard/style.css", "text/css; charset=utf-8"},
                            {"/dashboard/icon.svg", "image/svg+xml"}};
  for (const auto& f : files) {
    const auto res = heraldd.get(f.path);
    ASSERT_EQ(res.status, 200) << f.path << ": " << res.body;
    EXPECT_EQ(res.header("Content-Type"), f.type) << f.path;
    const auto csp = res.header("Content-Security-Policy");
    EXPECT_EQ(csp, dashboard::content_security_policy) << f.path;
    EXPECT_TRUE(contains(csp, "script-src 'self'")) << csp;
    EXPECT_FALSE(contains(csp, "unsafe-inline")) << csp;
    EXPECT_FALSE(contains(csp, "unsafe-eval")) << csp;
    EXPECT_EQ(res.header("X-Content-Type-Options"), "nosniff") << f.path;
    EXPECT_EQ(res.header("X-Frame-Options"), "DENY") << f.path;
    EXPECT_EQ(res.header("Referrer-Policy"), "no-referrer") << f.path;
    EXPECT_EQ(res.header("Cache-Control"), "no-cache") << f.path;
    const auto etag = res.header("ETag");
    ASSERT_GE(etag.size(), 3u) << f.path;
    EXPECT_EQ(etag.front(), '"');
    EXPECT_EQ(etag.back(), '"');
    EXPECT_FALSE(res.body.empty());
    // Nothing from elsewhere: no CDN, no remote font.
    if (f.path != "/dashboard/icon.svg") {
      EXPECT_FALSE(contains(res.body, "https://")) << f.path;
    }

    // A browser that has it asks again and gets 304 with no body.
    const auto again = heraldd.get(f.path, {{"If-None-Match", etag}});
    EXPECT_EQ(again.status, 304) << f.path;
    EXPECT_TRUE(again.body.empty()) << f.path;
    EXPECT_EQ(again.header("ETag"), etag);
    EXPECT_EQ(heraldd.get(f.path, {{"If-None-Match", "\"other\", W/" + etag}}).status, 304);
    EXPECT_EQ(heraldd.get(f.path, {{"If-None-Match", "\"other\""}}).status, 200);
  }

  // The page's scripts are all files: no inline script, which the policy would block anyway.
  const auto page = heraldd.get("/").body;
  EXPECT_TRUE(contains(page, "<script src=\"/dashboard/app.js\"")) << page;
  for (auto at = page.find("<script"); at != std::string::npos; at = page.find("<script", at + 1))
    EXPECT_EQ(page.compare(at, 12, "<script src="), 0) << page.substr(at, 40);
  EXPECT_TRUE(contains(page, "name=\"viewport\"")) << "no viewport: not made for phones";

  EXPECT_EQ(heraldd.get("/dashboard/missing.js").status, 404);
  const auto post = heraldd.post("/", "{}");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.header("Allow"), "GET");

  // What the page polls without a token.
  const auto overview = heraldd.get("/api/v1.1/overview");
  ASSERT_EQ(overview.status, 200) << overview.body;
  json_doc doc(overview.body);
  EXPECT_EQ(doc.integer("/data/queue/dead"), 0);
  EXPECT_EQ(doc.integer("/data/queue/consumers"), 1);
  EXPECT_EQ(heraldd.terminate(), 0) << heraldd.log();
}

constexpr auto acme_token = "tok-dashboard-acme-41c7";

TEST(DashboardE2E, ThePageInHeadlessChromiumAtAPhonesSize) {
  ASSERT_TRUE(std::filesystem::exists("/usr/bin/chromium")
              && std::filesystem::exists("/usr/bin/chromedriver"))
      << "chromium and chromium-driver are needed (deploy/install-deps.sh installs them)";
  redis_server redis;
  temp_dir dir("herald-dashboard-e2e");
  const auto tokens = dir / "tokens";
  std::ofstream(tokens) << "acme " << auth::hash_token_hex(secret(acme_token)) << "\n";
  heraldd_process heraldd(
      {.redis_url = redis.url(),
       .extra_env = {"HERALD_TOKENS_FILE=" + tokens.string(), "HERALD_CHUNK_SIZE=1",
                     "HERALD_PROVIDER_BOX_KIND=sandbox",
                     "HERALD_PROVIDER_BOX_PATH=" + (dir / "box.jsonl").string()},
       .extra_args = {},
       .wait_until_listening = true});
  herald_cli cli(
      dir, {"HERALD_CONFIG=/dev/null", "HERALD_ACCOUNT=acme", "HERALD_REDIS_URL=" + redis.url()});

  // A finished task with item outcomes, to click on: three profiles created, one refused.
  const auto imported = cli.enqueue_and_wait(
      R"({"type": "import_and_start", "body": {"skip_triggers": true, "data": [
          {"data": {"email": "ann@example.com", "_fname": "Ann"}},
          {"data": {"email": "bob@example.com"}},
          {"data": {"email": "not an email"}},
          {"data": {"email": "cid@example.com"}}]}})",
      heraldd);
  // Two dead letters: bodies that do not parse are dead at once.
  for (const char* id : {"dead-1", "dead-2"})
    redis.command({"XADD", "herald:{default}:jobs", "*", "v", "1", "type", "noop", "task_id", id,
                   "account", "acme", "body", "{not json"});
  ASSERT_TRUE(wait_until(
      [&] {
        return redis.integer({"XLEN", "herald:{default}:dead"}) == 2;
      },
      10s))
      << heraldd.log();
  // The task whose bar must move: 300 items of 200 ms, one item a chunk (a minute in all).
  const auto path = cli.new_path("sleep", ".json");
  std::ofstream(path) << R"({"type": "sleep", "body": {"items": 300, "ms": 200}})";
  const auto enqueued = cli.run({"enqueue", path.string()});
  ASSERT_EQ(enqueued.code, 0) << enqueued.err;
  const auto running = enqueued.out.substr(0, enqueued.out.find('\n'));

  const std::filesystem::path artefacts{HERALD_TEST_ARTEFACTS};
  std::filesystem::create_directories(artefacts);
  const auto screenshot = artefacts / "dashboard.png";
  std::filesystem::remove(screenshot);
  const auto log = dir / "browser.log";
  child_process browser(
      {"/usr/bin/python3", HERALD_SOURCE_DIR "/tests/support/dashboard_browser.py", "--url",
       "http://127.0.0.1:" + std::to_string(heraldd.port()) + "/", "--token", acme_token,
       "--running", running, "--items-task", imported.task_id, "--dead", "2", "--screenshot",
       screenshot.string()},
      {}, log);
  const auto code = browser.wait_for(180s);
  const auto said = browser.log();
  EXPECT_EQ(code, std::optional<int>(0)) << said << "\nheraldd:\n" << heraldd.log();
  EXPECT_TRUE(contains(said, "progress bar advanced")) << said;
  EXPECT_TRUE(contains(
      said, R"(item outcomes shown: ["created", "created", "failed: invalid_email", "created"])"))
      << said;
  EXPECT_TRUE(std::filesystem::exists(screenshot)) << said;
  EXPECT_GT(std::filesystem::file_size(screenshot), 10'000u);
  EXPECT_EQ(cli.run({"cancel", running}).code, 0);
  EXPECT_EQ(heraldd.terminate(), 0) << heraldd.log();
}

}  // namespace
}  // namespace herald::test
