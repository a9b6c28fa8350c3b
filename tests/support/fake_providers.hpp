// Fake messenger providers for tests: real HTTP servers on loopback (fake_http_server) that
// behave as the seeds describe, refuse what the real ones refuse, and record every delivery
// with its key and arrival time. Each can misbehave on purpose (a share of 500s, dropped
// connections, answers delayed past a client's timeout, 429 with Retry-After, or down for a
// while) and counts what a test asserts on: deliveries, distinct keys, texts, calls, calls while
// down, retries that came before their Retry-After.
//
//   fake_leadconverter lc("TOKEN");       // sendMessageBatch and bot.startWithVariables
//   fake_chatbot bot("12345", "secret");  // /v1/telegram/bot/sendMessage/
//   fake_webhook hook("hmac-key");        // any path; checks X-Herald-Signature, dedupes keys
//   lc.base_url() -> "http://127.0.0.1:PORT"
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "support/fake_http_server.hpp"

namespace herald::test {

struct fault_plan {
  double error_500 = 0;  // share of valid calls answered 500
  double drop = 0;       // share closed without a response
  double delay = 0;      // share answered (and delivered) only after `delay_by`
  std::chrono::milliseconds delay_by{0};
  double too_many = 0;  // share answered 429 with `Retry-After: retry_after_s`
  int retry_after_s = 1;
  std::uint64_t seed = 42;
};

// One message the fake took (an accepted item of a call).
struct fake_delivery {
  std::string key;  // the idempotency key, or the subscriber (LeadConverter, chat-bot)
  std::string text;
  std::map<std::string, std::string> fields;  // what else it carried (variables, bot_id, ...)
  std::chrono::steady_clock::time_point at;
};

class fake_provider {
 public:
  virtual ~fake_provider();
  fake_provider(const fake_provider&) = delete;
  fake_provider& operator=(const fake_provider&) = delete;

  std::string base_url() const;  // http://127.0.0.1:PORT
  fake_http_server& server() { return *server_; }

  void set_faults(fault_plan plan);
  // Down: every call answered 500 (and counted in calls_while_down) until set_down(false).
  void set_down(bool down);
  // Down from now for `period`, then answering again by itself.
  void down_for(std::chrono::milliseconds period);
  bool is_down() const;

  std::vector<fake_delivery> deliveries() const;  // in arrival order, duplicates included
  std::size_t delivered() const;                  // deliveries().size()
  std::size_t distinct() const;                   // distinct keys delivered
  std::vector<std::string> texts() const;         // of deliveries, in arrival order
  // The text each key got (the last one, when a key was delivered twice).
  std::map<std::string, std::string> text_by_key() const;
  std::size_t count_of(std::string_view key) const;  // deliveries of `key`
  std::uint64_t calls() const;                       // requests answered in any way
  std::uint64_t calls_while_down() const;
  std::uint64_t refused() const;  // answered 4xx for a bad request (not faults)
  std::uint64_t faults() const;   // answered with an injected fault
  // Calls that carried a key before the Retry-After the fake had given it passed.
  std::uint64_t early_retries() const;
  std::vector<std::size_t> call_sizes() const;  // messages each accepted call carried
  // Deliveries whose key had been delivered before (webhook: answered, not delivered again).
  std::uint64_t duplicates() const;

 protected:
  explicit fake_provider(unsigned threads);

  // What a valid call carries, or the refusal of an invalid one.
  struct parsed {
    std::optional<canned_response> refusal;  // 4xx: not subject to faults, nothing delivered
    std::vector<fake_delivery> deliveries;   // what it delivers when answered with success
    canned_response success{};               // the success answer (200 {"ok":true} by default)
  };
  virtual parsed parse(const received_request& r) = 0;
  // Whether a repeated key counts as a new delivery (false: webhook dedupes).
  virtual bool counts_duplicates() const { return true; }

  static canned_response json_response(int status, std::string body);

 private:
  canned_response answer(const received_request& r);

  mutable std::mutex mutex_;
  std::unique_ptr<fake_http_server> server_;
  fault_plan plan_;
  std::mt19937_64 rng_{42};
  bool down_ = false;
  std::optional<std::chrono::steady_clock::time_point> down_until_;
  std::vector<fake_delivery> deliveries_;
  std::set<std::string> keys_;
  std::map<std::string, std::chrono::steady_clock::time_point> not_before_;
  std::vector<std::size_t> call_sizes_;
  std::uint64_t calls_ = 0, calls_while_down_ = 0, refused_ = 0, faults_ = 0, early_ = 0,
                duplicates_ = 0;
};

// LeadConverter (seeds 000 and 002): POST /api/v1/{token}/broadcasting.sendMessageBatch and
// /api/v1/{token}/bot.startWithVariables. A wrong token: 401. A batch over 100 items, an item
// without an integer subscriber_id or without text and file_uuid: 400 {"result":"error",...}.
// A subscriber marked with reject() fails alone: 200 {"result":"ok","errors":[{"index",...}]}.
// bot.startWithVariables takes its parameters from the form body or the query string:
// subscriber_id or user_id + channel_id, bot_id, variable[NAME]=VALUE, forced.
class fake_leadconverter : public fake_provider {
 public:
  explicit fake_leadconverter(std::string token, unsigned threads = 2);
  void reject(std::string subscriber_id, std::string code = "subscriber_blocked");
  // The subscriber's item fails alone, marked retryable, in its next `times` batches.
  void reject_retryable(std::string subscriber_id, unsigned times);

 protected:
  parsed parse(const received_request& r) override;

 private:
  parsed batch(const received_request& r);
  parsed start_bot(const received_request& r);
  std::string token_;
  std::mutex reject_mutex_;
  std::map<std::string, std::string> rejected_;
  std::map<std::string, unsigned> retryable_;
};

// The chat-bot API (seed 003): POST /v1/telegram/bot/sendMessage/ JSON. A wrong auth: 401;
// subscriberId together with botId, botId without number, no text: 400.
class fake_chatbot : public fake_provider {
 public:
  fake_chatbot(std::string user, std::string pass, unsigned threads = 2);

 protected:
  parsed parse(const received_request& r) override;

 private:
  std::string user_, pass_;
};

// A customer's webhook: any path; a missing or wrong X-Herald-Signature: 401; a repeated
// Idempotency-Key is answered 200 again but not delivered twice.
class fake_webhook : public fake_provider {
 public:
  explicit fake_webhook(std::string secret, unsigned threads = 2);

 protected:
  parsed parse(const received_request& r) override;
  bool counts_duplicates() const override { return false; }

 private:
  std::string secret_;
};

// application/x-www-form-urlencoded decoding: '+' is a space, %XX a byte.
std::string form_decode(std::string_view s);
// The pairs of a form body or query string, decoded, in order.
std::vector<std::pair<std::string, std::string>> form_pairs(std::string_view s);

}  // namespace herald::test
