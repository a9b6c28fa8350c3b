// Route matching, path parameters and the 404/405 envelopes of herald::http::router.
#include <gtest/gtest.h>

#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "herald/http/router.hpp"

namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using herald::http::request;
using herald::http::response;
using herald::http::router;

herald::http::route_handler answer_with(std::string body) {
  return [body](const request&) -> asio::awaitable<response> {
    co_return herald::http::json_reply(bhttp::status::ok, body);
  };
}

response dispatch(const router& routes, bhttp::verb method, std::string target) {
  asio::io_context ioc;
  request req{method, target, 11};
  auto result = asio::co_spawn(ioc, routes.dispatch(req), asio::use_future);
  ioc.run();
  return result.get();
}

TEST(http_target_path, drops_query_and_fragment) {
  EXPECT_EQ(herald::http::target_path("/a/b?x=1&y=2"), "/a/b");
  EXPECT_EQ(herald::http::target_path("/a#frag"), "/a");
  EXPECT_EQ(herald::http::target_path("/"), "/");
  EXPECT_EQ(herald::http::target_path("http://example.com/a?x"), "/a");
  EXPECT_EQ(herald::http::target_path("http://example.com"), "/");
}

TEST(http_router, matches_method_and_path_without_the_query_string) {
  router routes;
  routes.add(bhttp::verb::get, "/tasks/status", answer_with("get"));
  routes.add(bhttp::verb::post, "/tasks/status", answer_with("post"));
  routes.add(bhttp::verb::post, "/healthz", answer_with("health"));

  auto get = routes.match(bhttp::verb::get, "/tasks/status?task_id=7");
  ASSERT_NE(get.handler, nullptr);
  EXPECT_TRUE(get.path_known);
  EXPECT_EQ(dispatch(routes, bhttp::verb::get, "/tasks/status?task_id=7").body(), "get");
  EXPECT_EQ(dispatch(routes, bhttp::verb::post, "/tasks/status").body(), "post");

  EXPECT_EQ(routes.match(bhttp::verb::get, "/tasks/status/").handler, nullptr);
  EXPECT_EQ(routes.match(bhttp::verb::get, "/tasks").handler, nullptr);
  EXPECT_EQ(routes.match(bhttp::verb::get, "/TASKS/status").handler, nullptr);
}

TEST(http_router, unknown_path_is_404_and_known_path_with_another_method_405_with_allow) {
  router routes;
  routes.add(bhttp::verb::get, "/tasks/status", answer_with("get"));
  routes.add(bhttp::verb::post, "/tasks/status", answer_with("post"));

  auto not_found = dispatch(routes, bhttp::verb::get, "/nope?token=x");
  EXPECT_EQ(not_found.result(), bhttp::status::not_found);
  EXPECT_EQ(
      not_found.body(),
      R"({"error": 404, "error_debug": "http: no route for /nope", "error_text": "Not found"})");

  auto m = routes.match(bhttp::verb::delete_, "/tasks/status");
  EXPECT_EQ(m.handler, nullptr);
  EXPECT_TRUE(m.path_known);
  EXPECT_EQ(m.allow, "GET, POST");
  auto not_allowed = dispatch(routes, bhttp::verb::delete_, "/tasks/status");
  EXPECT_EQ(not_allowed.result(), bhttp::status::method_not_allowed);
  EXPECT_EQ(not_allowed[bhttp::field::allow], "GET, POST");
  EXPECT_EQ(not_allowed.body(),
            R"({"error": 405, "error_debug": "http: DELETE is not allowed on /tasks/status )"
            R"j((allowed: GET, POST)", "error_text": "Method not allowed"})j");
}

TEST(http_router, parameter_segments_match_one_segment) {
  router routes;
  routes.add(bhttp::verb::post, "/api/v1/{token}/broadcasting.sendMessageBatch",
             answer_with("batch"));
  EXPECT_NE(routes.match(bhttp::verb::post, "/api/v1/abc/broadcasting.sendMessageBatch?x").handler,
            nullptr);
  EXPECT_EQ(routes.match(bhttp::verb::post, "/api/v1//broadcasting.sendMessageBatch").handler,
            nullptr);
  EXPECT_EQ(routes.match(bhttp::verb::post, "/api/v1/a/b/broadcasting.sendMessageBatch").handler,
            nullptr);

  auto params = herald::http::path_params("/api/v1/{token}/{method}", "/api/v1/t0k/bot.start?q=1");
  ASSERT_TRUE(params);
  EXPECT_EQ(params->at("token"), "t0k");
  EXPECT_EQ(params->at("method"), "bot.start");
  EXPECT_FALSE(herald::http::path_params("/api/v1/{token}", "/api/v2/t0k"));
}

TEST(http_router, the_first_route_added_wins) {
  router routes;
  routes.add(bhttp::verb::get, "/items/{id}", answer_with("any"));
  routes.add(bhttp::verb::get, "/items/special", answer_with("special"));
  EXPECT_EQ(dispatch(routes, bhttp::verb::get, "/items/special").body(), "any");
}

TEST(http_router, lists_its_routes_in_the_order_added) {
  router routes;
  EXPECT_TRUE(routes.routes().empty());
  routes.add(bhttp::verb::post, "/api/v1/{token}/bot.startWithVariables", answer_with("bot"));
  routes.add(bhttp::verb::get, "/healthz", answer_with("alive"));
  routes.add(bhttp::verb::post, "/healthz", answer_with("post"));
  const std::vector<router::route_key> expected{
      {bhttp::verb::post, "/api/v1/{token}/bot.startWithVariables"},
      {bhttp::verb::get, "/healthz"},
      {bhttp::verb::post, "/healthz"}};
  EXPECT_EQ(routes.routes(), expected);
  // A refused route is not listed.
  EXPECT_THROW(routes.add(bhttp::verb::get, "/healthz", answer_with("again")),
               std::invalid_argument);
  EXPECT_EQ(routes.routes().size(), 3u);
}

TEST(http_router, rejects_malformed_and_duplicate_routes) {
  router routes;
  routes.add(bhttp::verb::get, "/a", answer_with("a"));
  EXPECT_THROW(routes.add(bhttp::verb::get, "/a", answer_with("again")), std::invalid_argument);
  EXPECT_NO_THROW(routes.add(bhttp::verb::post, "/a", answer_with("post")));
  EXPECT_THROW(routes.add(bhttp::verb::get, "no-slash", answer_with("x")), std::invalid_argument);
  EXPECT_THROW(routes.add(bhttp::verb::get, "/a?x=1", answer_with("x")), std::invalid_argument);
  EXPECT_THROW(routes.add(bhttp::verb::get, "/v{id}", answer_with("x")), std::invalid_argument);
  EXPECT_THROW(routes.add(bhttp::verb::get, "/b", nullptr), std::invalid_argument);
}

TEST(http_router, a_handler_exception_propagates_to_the_caller) {
  router routes;
  routes.add(bhttp::verb::get, "/throw", [](const request&) -> asio::awaitable<response> {
    throw std::runtime_error("boom");
    co_return response{};
  });
  EXPECT_THROW(dispatch(routes, bhttp::verb::get, "/throw"), std::runtime_error);
}

}  // namespace

TEST(http_router, loggable_path_hides_a_path_token_and_the_query) {
  using herald::http::loggable_path;
  EXPECT_EQ(loggable_path("/api/v1/s3cr3t/broadcasting.sendMessageBatch?batch[0][text]=x"),
            "/api/v1/***/broadcasting.sendMessageBatch");
  EXPECT_EQ(loggable_path("/api/v1/s3cr3t"), "/api/v1/***");
  EXPECT_EQ(loggable_path("/api/v1.1/tasks/status"), "/api/v1.1/tasks/status");
  EXPECT_EQ(loggable_path("/tasks/status?task_id=x&token=y"), "/tasks/status");
  EXPECT_EQ(loggable_path("/a\x01z"), "/a?z");
  EXPECT_EQ(loggable_path("/" + std::string(300, 'x')), "/" + std::string(199, 'x') + "...");
}
