#include "herald/queue/handler.hpp"

#include "herald/common/json_keys.hpp"

#include <simdjson.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace herald::queue {

void handler_registry::add(std::string type, std::shared_ptr<const job_handler> handler) {
  handlers_[std::move(type)] = std::move(handler);
}

const job_handler* handler_registry::find(std::string_view type) const {
  auto it = handlers_.find(type);
  return it == handlers_.end() ? nullptr : it->second.get();
}

std::vector<std::string> handler_registry::types() const {
  std::vector<std::string> out;
  for (const auto& [name, h] : handlers_) out.push_back(name);
  return out;
}

namespace {

constexpr std::uint64_t max_items = 10'000'000;

// Reads an optional non-negative integer member of the body's top-level object.
std::uint64_t read_count(simdjson::dom::object& body, std::string_view field, std::uint64_t dflt,
                         std::uint64_t max) {
  simdjson::dom::element e;
  if (body[field].get(e)) return dflt;
  std::uint64_t v = 0;
  if (e.get(v)) throw bad_job("body." + std::string(field) + ": must be a non-negative integer");
  if (v > max) throw bad_job("body." + std::string(field) + ": at most " + std::to_string(max));
  return v;
}

// The body's top-level object; valid until the next parse on this thread.
simdjson::dom::object parse_object(std::string_view body) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (auto err = parser.parse(body.data(), body.size()).get(doc))
    throw bad_job(std::string("body: not valid JSON (") + simdjson::error_message(err) + ")");
  simdjson::dom::object obj;
  if (doc.get(obj)) throw bad_job("body: must be a JSON object");
  if (auto repeated = herald::duplicate_key(doc))
    throw bad_job(herald::duplicate_key_message("body", *repeated));
  return obj;
}

class noop_job final : public prepared_job {
 public:
  explicit noop_job(std::uint64_t items) : items_(items) {}
  std::uint64_t total() const override { return items_; }
  boost::asio::awaitable<chunk_result> run(const job_context&, std::uint64_t begin,
                                           std::uint64_t end) override {
    chunk_result r;
    r.processed = end - begin;
    co_return r;
  }

 private:
  std::uint64_t items_;
};

class noop_handler final : public job_handler {
 public:
  bool has_effects() const override { return false; }
  bool instant() const override { return true; }
  std::unique_ptr<prepared_job> prepare(std::string_view body) const override {
    auto obj = parse_object(body);
    return std::make_unique<noop_job>(read_count(obj, "items", 1, max_items));
  }
};

class sleep_job final : public prepared_job {
 public:
  sleep_job(std::uint64_t items, std::uint64_t ms) : items_(items), ms_(ms) {}
  std::uint64_t total() const override { return items_; }
  boost::asio::awaitable<chunk_result> run(const job_context&, std::uint64_t begin,
                                           std::uint64_t end) override {
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor,
                                    std::chrono::milliseconds(ms_ * (end - begin)));
    co_await timer.async_wait(boost::asio::use_awaitable);
    chunk_result r;
    r.processed = end - begin;
    co_return r;
  }

 private:
  std::uint64_t items_, ms_;
};

class sleep_handler final : public job_handler {
 public:
  bool has_effects() const override { return false; }
  std::unique_ptr<prepared_job> prepare(std::string_view body) const override {
    auto obj = parse_object(body);
    auto items = read_count(obj, "items", 1, max_items);
    auto ms = read_count(obj, "ms", 0, 3'600'000);
    return std::make_unique<sleep_job>(items, ms);
  }
};

}  // namespace

void add_builtin_handlers(handler_registry& registry) {
  registry.add("noop", std::make_shared<noop_handler>());
  registry.add("sleep", std::make_shared<sleep_handler>());
}

}  // namespace herald::queue
