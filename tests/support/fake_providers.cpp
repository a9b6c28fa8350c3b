#include "support/fake_providers.hpp"

#include <simdjson.h>

#include "herald/providers/webhook.hpp"

namespace herald::test {

namespace {

namespace dom = simdjson::dom;
using clock = std::chrono::steady_clock;

std::string path_of(std::string_view target) {
  return std::string(target.substr(0, target.find('?')));
}
std::string query_of(std::string_view target) {
  const auto q = target.find('?');
  return q == std::string_view::npos ? std::string() : std::string(target.substr(q + 1));
}

bool is_digits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

std::string text_of(dom::element e) {
  if (e.is_string()) return std::string(std::string_view(e));
  return simdjson::minify(e);
}

std::string field_text(dom::element o, const char* key) {
  dom::element e;
  return o[key].get(e) == simdjson::SUCCESS ? text_of(e) : std::string();
}

}  // namespace

std::string form_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size()) {
      auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
      };
      const int h = hex(s[i + 1]), l = hex(s[i + 2]);
      if (h < 0 || l < 0) {
        out += s[i];
        continue;
      }
      out += static_cast<char>(h * 16 + l);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> form_pairs(std::string_view s) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!s.empty()) {
    const auto amp = s.find('&');
    const auto part = s.substr(0, amp);
    if (!part.empty()) {
      const auto eq = part.find('=');
      out.emplace_back(form_decode(part.substr(0, eq)), eq == std::string_view::npos
                                                            ? std::string()
                                                            : form_decode(part.substr(eq + 1)));
    }
    if (amp == std::string_view::npos) break;
    s.remove_prefix(amp + 1);
  }
  return out;
}

fake_provider::fake_provider(unsigned threads)
    : server_(std::make_unique<fake_http_server>(
        [this](const received_request& r) { return answer(r); }, threads, false)) {}

fake_provider::~fake_provider() {
  server_->stop();
}

std::string fake_provider::base_url() const {
  return "http://127.0.0.1:" + std::to_string(server_->port());
}

void fake_provider::set_faults(fault_plan plan) {
  std::lock_guard lock(mutex_);
  plan_ = plan;
  rng_.seed(plan.seed);
}

void fake_provider::set_down(bool down) {
  std::lock_guard lock(mutex_);
  down_ = down;
  down_until_.reset();
}

void fake_provider::down_for(std::chrono::milliseconds period) {
  std::lock_guard lock(mutex_);
  down_ = true;
  down_until_ = clock::now() + period;
}

bool fake_provider::is_down() const {
  std::lock_guard lock(mutex_);
  return down_ && (!down_until_ || clock::now() < *down_until_);
}

canned_response fake_provider::json_response(int status, std::string body) {
  canned_response c;
  c.status = status;
  c.headers.emplace_back("Content-Type", "application/json");
  c.body = std::move(body);
  return c;
}

canned_response fake_provider::answer(const received_request& r) {
  parsed p = parse(r);
  const auto now = clock::now();
  std::lock_guard lock(mutex_);
  ++calls_;
  if (down_ && down_until_ && now >= *down_until_) {
    down_ = false;
    down_until_.reset();
  }
  if (down_) {
    ++calls_while_down_;
    return json_response(500, R"({"result":"error","code":"unavailable","message":"down"})");
  }
  if (p.refusal) {
    ++refused_;
    return *p.refusal;
  }
  for (const auto& d : p.deliveries) {
    auto it = not_before_.find(d.key);
    // 5 ms of slack for the two clocks' readings on either side of the socket.
    if (it != not_before_.end() && now + std::chrono::milliseconds(5) < it->second) ++early_;
  }
  std::uniform_real_distribution<double> u(0, 1);
  double roll = u(rng_);
  auto take = [&roll](double share) {
    if (roll < share) return true;
    roll -= share;
    return false;
  };
  if (take(plan_.error_500)) {
    ++faults_;
    return json_response(500, R"({"result":"error","code":"internal","message":"injected"})");
  }
  if (take(plan_.drop)) {
    ++faults_;
    canned_response c;
    c.what = canned_response::behaviour::close_without_response;
    return c;
  }
  if (take(plan_.too_many)) {
    ++faults_;
    for (const auto& d : p.deliveries)
      not_before_[d.key] = now + std::chrono::seconds(plan_.retry_after_s);
    auto c = json_response(429, R"({"result":"error","code":"too_many_requests"})");
    c.headers.emplace_back("Retry-After", std::to_string(plan_.retry_after_s));
    return c;
  }
  canned_response c = p.success;
  if (take(plan_.delay)) {
    ++faults_;
    c.delay = plan_.delay_by;
  }
  std::size_t taken = 0;
  for (auto& d : p.deliveries) {
    d.at = now;
    const bool seen = !keys_.insert(d.key).second;
    if (seen) ++duplicates_;
    if (seen && !counts_duplicates()) continue;
    deliveries_.push_back(std::move(d));
    ++taken;
  }
  call_sizes_.push_back(taken);
  return c;
}

std::vector<fake_delivery> fake_provider::deliveries() const {
  std::lock_guard lock(mutex_);
  return deliveries_;
}
std::size_t fake_provider::delivered() const {
  std::lock_guard lock(mutex_);
  return deliveries_.size();
}
std::size_t fake_provider::distinct() const {
  std::lock_guard lock(mutex_);
  return keys_.size();
}
std::vector<std::string> fake_provider::texts() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& d : deliveries_) out.push_back(d.text);
  return out;
}
std::map<std::string, std::string> fake_provider::text_by_key() const {
  std::lock_guard lock(mutex_);
  std::map<std::string, std::string> out;
  for (const auto& d : deliveries_) out[d.key] = d.text;
  return out;
}
std::size_t fake_provider::count_of(std::string_view key) const {
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (const auto& d : deliveries_) n += d.key == key;
  return n;
}
std::uint64_t fake_provider::calls() const {
  std::lock_guard lock(mutex_);
  return calls_;
}
std::uint64_t fake_provider::calls_while_down() const {
  std::lock_guard lock(mutex_);
  return calls_while_down_;
}
std::uint64_t fake_provider::refused() const {
  std::lock_guard lock(mutex_);
  return refused_;
}
std::uint64_t fake_provider::faults() const {
  std::lock_guard lock(mutex_);
  return faults_;
}
std::uint64_t fake_provider::early_retries() const {
  std::lock_guard lock(mutex_);
  return early_;
}
std::vector<std::size_t> fake_provider::call_sizes() const {
  std::lock_guard lock(mutex_);
  return call_sizes_;
}
std::uint64_t fake_provider::duplicates() const {
  std::lock_guard lock(mutex_);
  return duplicates_;
}

// --- LeadConverter ---------------------------------------------------------------------------

fake_leadconverter::fake_leadconverter(std::string token, unsigned threads)
    : fake_provider(threads), token_(std::move(token)) {}

void fake_leadconverter::reject(std::string subscriber_id, std::string code) {
  std::lock_guard lock(reject_mutex_);
  rejected_[std::move(subscriber_id)] = std::move(code);
}

void fake_leadconverter::reject_retryable(std::string subscriber_id, unsigned times) {
  std::lock_guard lock(reject_mutex_);
  retryable_[std::move(subscriber_id)] = times;
}

fake_provider::parsed fake_leadconverter::parse(const received_request& r) {
  const std::string path = path_of(r.target);
  const std::string prefix = "/api/v1/" + token_ + "/";
  parsed p;
  if (r.method != "POST" && r.method != "GET") {
    p.refusal = json_response(405, R"({"result":"error","code":"method_not_allowed"})");
    return p;
  }
  if (path.rfind("/api/v1/", 0) != 0 || path.rfind(prefix, 0) != 0) {
    p.refusal = json_response(
        401, R"({"result":"error","code":"invalid_token","message":"unknown token"})");
    return p;
  }
  const std::string method = path.substr(prefix.size());
  if (method == "broadcasting.sendMessageBatch") return batch(r);
  if (method == "bot.startWithVariables") return start_bot(r);
  p.refusal = json_response(404, R"({"result":"error","code":"unknown_method"})");
  return p;
}

fake_provider::parsed fake_leadconverter::batch(const received_request& r) {
  parsed p;
  auto bad = [&p](std::string code, std::string message) {
    p.refusal = json_response(
        400, R"({"result":"error","code":")" + code + R"(","message":")" + message + R"("})");
    return p;
  };
  dom::parser parser;
  dom::element root;
  dom::array items;
  if (parser.parse(r.body).get(root) != simdjson::SUCCESS
      || root["batch"].get(items) != simdjson::SUCCESS)
    return bad("invalid_request", "a JSON body {batch: [...]} is required");
  if (items.size() > 100) return bad("batch_too_large", "at most 100 items in batch");
  if (items.size() == 0) return bad("invalid_request", "batch is empty");
  std::string errors;
  std::size_t index = 0;
  for (dom::element item : items) {
    dom::element id;
    if (item["subscriber_id"].get(id) != simdjson::SUCCESS)
      return bad("invalid_request",
                 "batch[" + std::to_string(index) + "].subscriber_id is required");
    std::string sid = text_of(id);
    if (!is_digits(sid))
      return bad("invalid_request",
                 "batch[" + std::to_string(index) + "].subscriber_id must be an integer");
    fake_delivery d;
    d.key = sid;
    dom::element e;
    const bool has_text = item["text"].get(e) == simdjson::SUCCESS;
    if (has_text) d.text = text_of(e);
    const bool has_file = item["file_uuid"].get(e) == simdjson::SUCCESS;
    if (has_file) d.fields["file_uuid"] = text_of(e);
    if (!has_text && !has_file)
      return bad("invalid_request", "batch[" + std::to_string(index) + "] needs text or file_uuid");
    std::optional<std::string> rejected;
    bool retryable = false;
    {
      std::lock_guard lock(reject_mutex_);
      auto it = rejected_.find(sid);
      if (it != rejected_.end()) rejected = it->second;
      auto r = retryable_.find(sid);
      if (!rejected && r != retryable_.end() && r->second > 0) {
        --r->second;
        retryable = true;
      }
    }
    if (retryable) {
      if (!errors.empty()) errors += ',';
      errors += R"({"index":)" + std::to_string(index)
                + R"(,"code":"busy","message":"try later","retryable":true})";
    } else if (rejected) {
      if (!errors.empty()) errors += ',';
      errors += R"({"index":)" + std::to_string(index) + R"(,"code":")" + *rejected
                + R"(","message":"the subscriber cannot be written to"})";
    } else {
      p.deliveries.push_back(std::move(d));
    }
    ++index;
  }
  p.success = json_response(200, R"({"result":"ok","errors":[)" + errors + "]}");
  return p;
}

fake_provider::parsed fake_leadconverter::start_bot(const received_request& r) {
  parsed p;
  auto pairs = form_pairs(query_of(r.target));
  if (r.header("Content-Type").find("application/x-www-form-urlencoded") != std::string::npos) {
    auto body = form_pairs(r.body);
    pairs.insert(pairs.end(), body.begin(), body.end());
  }
  fake_delivery d;
  std::string subscriber, user, channel, bot, forced;
  for (const auto& [k, v] : pairs) {
    if (k == "subscriber_id")
      subscriber = v;
    else if (k == "user_id")
      user = v;
    else if (k == "channel_id")
      channel = v;
    else if (k == "bot_id")
      bot = v;
    else if (k == "forced")
      forced = v;
    else if (k.rfind("variable[", 0) == 0 && k.back() == ']')
      d.fields["variable." + k.substr(9, k.size() - 10)] = v;
  }
  auto bad = [&p](std::string message) {
    p.refusal = json_response(
        400, R"({"result":"error","code":"invalid_request","message":")" + message + R"("})");
    return p;
  };
  if (subscriber.empty() && (user.empty() || channel.empty()))
    return bad("subscriber_id or user_id and channel_id are required");
  if (!subscriber.empty() && !is_digits(subscriber)) return bad("subscriber_id must be an integer");
  if (bot.empty()) return bad("bot_id is required");
  if (!forced.empty() && forced != "true" && forced != "false" && forced != "1" && forced != "0")
    return bad("forced must be a boolean");
  d.key = subscriber.empty() ? user + "@" + channel : subscriber;
  d.fields["bot_id"] = bot;
  d.fields["forced"] = forced;
  for (const auto& [k, v] : d.fields) {
    if (k.rfind("variable.", 0) == 0) {
      if (!d.text.empty()) d.text += '&';
      d.text += k.substr(9) + "=" + v;
    }
  }
  p.deliveries.push_back(std::move(d));
  p.success = json_response(200, R"({"result":"ok"})");
  return p;
}

// --- chat-bot API ----------------------------------------------------------------------------

fake_chatbot::fake_chatbot(std::string user, std::string pass, unsigned threads)
    : fake_provider(threads), user_(std::move(user)), pass_(std::move(pass)) {}

fake_provider::parsed fake_chatbot::parse(const received_request& r) {
  parsed p;
  auto bad = [&p](int status, std::string code, std::string message) {
    p.refusal = json_response(status, R"({"ok":false,"error":{"code":")" + code + R"(","message":")"
                                          + message + R"("}})");
    return p;
  };
  if (path_of(r.target) != "/v1/telegram/bot/sendMessage/" || r.method != "POST")
    return bad(404, "not_found", "POST /v1/telegram/bot/sendMessage/");
  dom::parser parser;
  dom::element root;
  if (parser.parse(r.body).get(root) != simdjson::SUCCESS || !root.is_object())
    return bad(400, "invalid_json", "a JSON object is required");
  std::string_view user, pass;
  if (root["auth"]["user"].get(user) != simdjson::SUCCESS
      || root["auth"]["pass"].get(pass) != simdjson::SUCCESS || user != user_ || pass != pass_)
    return bad(401, "unauthorized", "wrong auth");
  dom::element e;
  fake_delivery d;
  const bool has_sub = root["subscriberId"].get(e) == simdjson::SUCCESS;
  if (has_sub) d.key = text_of(e);
  dom::element bot, number;
  const bool has_bot = root["botId"].get(bot) == simdjson::SUCCESS;
  const bool has_number = root["number"].get(number) == simdjson::SUCCESS;
  if (has_sub && has_bot)
    return bad(400, "invalid_request", "subscriberId and botId exclude each other");
  if (!has_sub && !has_bot) return bad(400, "invalid_request", "subscriberId or botId is required");
  if (has_bot && !has_number) return bad(400, "invalid_request", "number is required with botId");
  if (has_bot) {
    d.key = text_of(bot) + ":" + text_of(number);
    d.fields["botId"] = text_of(bot);
    d.fields["number"] = text_of(number);
  }
  if (root["text"].get(e) != simdjson::SUCCESS || !e.is_string() || std::string_view(e).empty())
    return bad(400, "invalid_request", "text is required");
  d.text = text_of(e);
  dom::array buttons;
  if (root["buttons"].get(buttons) == simdjson::SUCCESS) {
    std::size_t i = 0;
    for (dom::element b : buttons) {
      d.fields["button" + std::to_string(i) + ".text"] = field_text(b, "text");
      d.fields["button" + std::to_string(i) + ".url"] = field_text(b, "url");
      ++i;
    }
  }
  p.deliveries.push_back(std::move(d));
  p.success = json_response(200, R"({"ok":true})");
  return p;
}

// --- webhook ---------------------------------------------------------------------------------

fake_webhook::fake_webhook(std::string secret, unsigned threads)
    : fake_provider(threads), secret_(std::move(secret)) {}

fake_provider::parsed fake_webhook::parse(const received_request& r) {
  parsed p;
  if (r.header("X-Herald-Signature") != providers::webhook_signature(secret_, r.body)) {
    p.refusal = json_response(401, R"({"error":{"code":"bad_signature","message":"signature"}})");
    return p;
  }
  dom::parser parser;
  dom::element root;
  if (parser.parse(r.body).get(root) != simdjson::SUCCESS || !root.is_object()) {
    p.refusal = json_response(400, R"({"error":"a JSON object is required"})");
    return p;
  }
  fake_delivery d;
  d.key = r.header("Idempotency-Key");
  if (d.key.empty()) {
    p.refusal = json_response(400, R"({"error":"Idempotency-Key is required"})");
    return p;
  }
  dom::element e;
  if (root["text"].get(e) == simdjson::SUCCESS) d.text = text_of(e);
  for (auto [k, v] : dom::object(root)) {
    if (k != "text") d.fields[std::string(k)] = text_of(v);
  }
  p.deliveries.push_back(std::move(d));
  p.success = json_response(200, R"({"ok":true})");
  return p;
}

}  // namespace herald::test
