#include "herald/queue/task.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "herald/common/json.hpp"

namespace herald::queue {

std::string_view to_string(task_status s) {
  switch (s) {
    case task_status::queued:
      return "queued";
    case task_status::processing:
      return "processing";
    case task_status::completed:
      return "completed";
    case task_status::failed:
      return "failed";
    case task_status::cancelled:
      return "cancelled";
  }
  return "queued";
}

std::optional<task_status> parse_task_status(std::string_view s) {
  for (auto st : {task_status::queued, task_status::processing, task_status::completed,
                  task_status::failed, task_status::cancelled})
    if (to_string(st) == s) return st;
  return std::nullopt;
}

std::string_view to_string(item_outcome::kind k) {
  switch (k) {
    case item_outcome::kind::processed:
      return "processed";
    case item_outcome::kind::sent:
      return "sent";
    case item_outcome::kind::scheduled:
      return "scheduled";
    case item_outcome::kind::skipped:
      return "skipped";
    case item_outcome::kind::failed:
      return "failed";
  }
  return "processed";
}

std::string item_outcome::to_json() const {
  std::string out = "{\"index\":" + std::to_string(index);
  if (!profile_id.empty()) out += ",\"profile_id\":" + json_quote(profile_id);
  out += ",\"outcome\":" + json_quote(to_string(outcome));
  if (!code.empty()) out += ",\"code\":" + json_quote(code);
  if (!message.empty()) out += ",\"message\":" + json_quote(message);
  return out + "}";
}

std::optional<item_outcome> item_outcome::from_json(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(json.data(), json.size()).get(doc)) return std::nullopt;
  item_outcome o;
  std::uint64_t index = 0;
  if (doc["index"].get(index)) return std::nullopt;
  o.index = index;
  std::string_view s;
  if (!doc["profile_id"].get(s)) o.profile_id = s;
  if (!doc["code"].get(s)) o.code = s;
  if (!doc["message"].get(s)) o.message = s;
  if (!doc["outcome"].get(s)) {
    for (auto k : {kind::processed, kind::sent, kind::scheduled, kind::skipped, kind::failed})
      if (to_string(k) == s) o.outcome = k;
  }
  return o;
}

int task_record::progress() const {
  if (total == 0) return status == task_status::completed ? 100 : 0;
  return static_cast<int>(std::min<std::uint64_t>(100, processed * 100 / total));
}

bool task_filter::matches(const task_record& t) const {
  if (!statuses.empty() && std::find(statuses.begin(), statuses.end(), t.status) == statuses.end())
    return false;
  if (!types.empty() && std::find(types.begin(), types.end(), t.type) == types.end()) return false;
  if (created_from && t.created_at < *created_from) return false;
  if (created_to && t.created_at > *created_to) return false;
  return true;
}

std::string iso8601(std::int64_t ms) {
  // The civil date by arithmetic (Howard Hinnant's civil_from_days), not gmtime_r and strftime:
  // every status reply writes four of these, and the libc pair was a few percent of one.
  const std::int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  const int milli = static_cast<int>(ms - secs * 1000);
  std::int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
  const int of_day = static_cast<int>(secs - days * 86400);
  days += 719468;  // from 1970-01-01 to 0000-03-01
  const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const auto doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned day = doy - (153 * mp + 2) / 5 + 1;
  const unsigned month = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t year = static_cast<std::int64_t>(yoe) + era * 400 + (month <= 2 ? 1 : 0);
  if (year < 0 || year > 9999) {  // not a time heraldd writes; the libc form, whatever it is
    char buf[64];
    std::snprintf(buf, sizeof buf, "%lld-%02u-%02uT%02d:%02d:%02d.%03dZ",
                  static_cast<long long>(year), month, day, of_day / 3600, of_day / 60 % 60,
                  of_day % 60, milli);
    return buf;
  }
  char out[25] = "0000-00-00T00:00:00.000Z";
  auto put = [&](int at, unsigned value, int width) {
    for (int i = width - 1; i >= 0; --i, value /= 10)
      out[at + i] = static_cast<char>('0' + value % 10);
  };
  put(0, static_cast<unsigned>(year), 4);
  put(5, month, 2);
  put(8, day, 2);
  put(11, static_cast<unsigned>(of_day / 3600), 2);
  put(14, static_cast<unsigned>(of_day / 60 % 60), 2);
  put(17, static_cast<unsigned>(of_day % 60), 2);
  put(20, static_cast<unsigned>(milli), 3);
  return std::string(out, 24);
}

std::string profile_results_json(const std::vector<item_outcome>& outcomes) {
  std::string out = "[";
  bool first = true;
  for (const auto& o : outcomes) {
    if (o.profile_id.empty() || o.outcome == item_outcome::kind::skipped
        || o.outcome == item_outcome::kind::failed)
      continue;
    if (!first) out += ", ";
    first = false;
    out += "{\"profile_id\": " + json_quote(o.profile_id) + "}";
  }
  return out + "]";
}

std::string status_reply_json(const task_record& task, const std::vector<item_outcome>& outcomes) {
  return "{\"data\": " + task_status_json(task, &outcomes)
         + ", \"error\": 0, \"error_text\": \"Successful operation\"}";
}

std::string task_status_json(const task_record& task, const std::vector<item_outcome>* outcomes) {
  std::string out = "{\"task_id\": " + json_quote(task.task_id);
  out += ", \"type\": " + json_quote(task.type);
  out += ", \"status\": " + json_quote(to_string(task.status));
  out += ", \"progress\": " + std::to_string(task.progress());
  bool failed = task.status == task_status::failed;
  out += ", \"result\": {\"error\": " + std::string(failed ? "1" : "0");
  out += ", \"error_text\": " + json_quote(failed ? task.error_text : std::string());
  if (outcomes != nullptr) out += ", \"result\": " + profile_results_json(*outcomes);
  out += "}";
  auto counter = [&](std::string_view name, std::uint64_t v) {
    out += ", \"";
    out += name;
    out += "\": " + std::to_string(v);
  };
  counter("total", task.total);
  counter("processed", task.processed);
  counter("sent", task.sent);
  counter("scheduled", task.scheduled);
  counter("skipped", task.skipped);
  counter("failed", task.failed);
  auto time = [&](std::string_view name, std::int64_t ms) {
    out += ", \"";
    out += name;
    out += "\": " + (ms ? json_quote(iso8601(ms)) : std::string("null"));
  };
  time("created_at", task.created_at);
  time("started_at", task.started_at);
  time("finished_at", task.finished_at);
  time("expires_at", task.expires_at);
  if (task.run_at) time("run_at", task.run_at);
  return out + "}";
}

}  // namespace herald::queue
