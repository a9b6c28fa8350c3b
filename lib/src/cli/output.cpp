#include "herald/cli/output.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <tuple>
#include <variant>

#include "herald/common/json.hpp"

namespace herald::cli {

namespace {

std::string time_or_dash(std::int64_t ms) {
  return ms ? queue::iso8601(ms) : std::string("-");
}

std::string json_time(std::int64_t ms) {
  return ms ? json_quote(queue::iso8601(ms)) : std::string("null");
}

// Rows of cells as left-aligned columns two spaces apart, the last one not padded.
std::string columns(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  for (const auto& row : rows) {
    if (width.size() < row.size()) width.resize(row.size(), 0);
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(width[i] - row[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

// A value as one line of text: plain when it is printable as it is, JSON-quoted when it is empty,
// has a control character (which could move a terminal's cursor) or space at either end.
std::string plain_or_quoted(std::string_view s) {
  const bool plain = !s.empty() && s.front() != ' ' && s.back() != ' '
                     && std::none_of(s.begin(), s.end(), [](char c) {
                          return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
                        });
  return plain ? std::string(s) : json_quote(s);
}

std::string field_text(const profiles::field_value& v) {
  if (const auto* s = std::get_if<std::string>(&v)) return plain_or_quoted(*s);
  if (const auto* tags = std::get_if<profiles::tag_list>(&v)) {
    if (tags->empty()) return "(no tags)";
    std::string out;
    for (const auto& t : *tags) out += (out.empty() ? "" : ", ") + plain_or_quoted(t);
    return out;
  }
  std::string out;
  profiles::append_json(out, v);
  return out;
}

// The subscription's address and other fields: "email=john@example.com", "cc_data.id=42".
std::string subscription_details(const profiles::subscription& s) {
  std::string out;
  auto add = [&](std::string_view name, const std::string& text) {
    if (!out.empty()) out += ' ';
    out += std::string(name) + "=" + text;
  };
  auto address = [&](std::string_view name, const std::string& v) {
    if (!v.empty()) add(name, plain_or_quoted(v));
  };
  address("email", s.email);
  address("phone", s.phone);
  address("provider", s.provider);
  address("subscription_id", s.subscription_id);
  address("cc_data.id", s.cc_id);
  address("subscriber_id", s.subscriber_id);
  address("user_id", s.user_id);
  address("channel_id", s.channel_id);
  for (const auto& [name, value] : s.fields) add(plain_or_quoted(name), field_text(value));
  return out;
}

}  // namespace

std::string progress_bar_line(const queue::task_record& task, std::size_t width) {
  const int percent = task.progress();
  const std::size_t filled = width * static_cast<std::size_t>(percent) / 100;
  std::string out = "[";
  out.append(filled, '#');
  out.append(width - filled, ' ');
  out += "] " + progress_plain_line(task);
  return out;
}

std::string progress_plain_line(const queue::task_record& task) {
  return std::to_string(task.progress()) + "% " + std::to_string(task.processed) + "/"
         + std::to_string(task.total) + " " + std::string(queue::to_string(task.status));
}

progress_display::progress_display(style s, std::size_t bar_width)
    : style_(s), bar_width_(bar_width) {}

std::string progress_display::update(const queue::task_record& task) {
  std::string line =
      style_ == style::terminal ? progress_bar_line(task, bar_width_) : progress_plain_line(task);
  if (drawn_ && line == last_) return {};
  drawn_ = true;
  last_ = line;
  // On a terminal: back to the line's start, the new text, then clear what the old one left.
  if (style_ == style::terminal) return "\r" + line + "\x1b[K";
  return line + "\n";
}

std::string progress_display::finish() const {
  return style_ == style::terminal && drawn_ ? "\n" : "";
}

std::string format_elapsed(std::int64_t ms) {
  if (ms < 0) ms = 0;
  char buf[48];
  if (ms < 60'000) {
    std::snprintf(buf, sizeof buf, "%lld.%03llds", static_cast<long long>(ms / 1000),
                  static_cast<long long>(ms % 1000));
  } else if (ms < 3'600'000) {
    std::snprintf(buf, sizeof buf, "%lldm %02llds", static_cast<long long>(ms / 60'000),
                  static_cast<long long>(ms / 1000 % 60));
  } else if (ms < 86'400'000) {
    std::snprintf(buf, sizeof buf, "%lldh %02lldm", static_cast<long long>(ms / 3'600'000),
                  static_cast<long long>(ms / 60'000 % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lldd %02lldh", static_cast<long long>(ms / 86'400'000),
                  static_cast<long long>(ms / 3'600'000 % 24));
  }
  return buf;
}

std::string format_status(const queue::task_record& t) {
  std::vector<std::vector<std::string>> rows;
  auto row = [&](std::string name, std::string value) {
    rows.push_back({std::move(name) + ":", std::move(value)});
  };
  row("task", t.task_id);
  row("type", t.type);
  row("account", t.account);
  row("status", std::string(queue::to_string(t.status)));
  row("progress", std::to_string(t.progress()) + "% (" + std::to_string(t.processed) + " of "
                      + std::to_string(t.total) + " items)");
  row("outcomes", "sent " + std::to_string(t.sent) + ", scheduled " + std::to_string(t.scheduled)
                      + ", skipped " + std::to_string(t.skipped) + ", failed "
                      + std::to_string(t.failed));
  row("created", time_or_dash(t.created_at));
  if (t.run_at) row("run at", time_or_dash(t.run_at));
  row("started", time_or_dash(t.started_at));
  std::string finished = time_or_dash(t.finished_at);
  if (t.finished_at && t.started_at)
    finished += " (ran " + format_elapsed(t.finished_at - t.started_at) + ")";
  row("finished", finished);
  if (t.expires_at) row("expires", time_or_dash(t.expires_at));
  row("deliveries", std::to_string(t.deliveries));
  if (!t.error_text.empty()) row("error", t.error_text);
  if (!t.last_error.empty()) row("last error", t.last_error);
  return columns(rows);
}

std::string format_task_list(const std::vector<queue::task_record>& tasks) {
  if (tasks.empty()) return "no tasks\n";
  std::vector<std::vector<std::string>> rows{
      {"TASK_ID", "TYPE", "STATUS", "PROGRESS", "ITEMS", "CREATED"}};
  for (const auto& t : tasks)
    rows.push_back({t.task_id, t.type, std::string(queue::to_string(t.status)),
                    std::to_string(t.progress()) + "%",
                    std::to_string(t.processed) + "/" + std::to_string(t.total),
                    time_or_dash(t.created_at)});
  return columns(rows);
}

std::string task_list_json(const std::vector<queue::task_record>& tasks) {
  std::string out = "[";
  for (const auto& t : tasks) {
    if (out.size() > 1) out += ", ";
    out += "{\"task_id\": " + json_quote(t.task_id) + ", \"type\": " + json_quote(t.type)
           + ", \"status\": " + json_quote(queue::to_string(t.status)) + ", \"progress\": "
           + std::to_string(t.progress()) + ", \"total\": " + std::to_string(t.total)
           + ", \"processed\": " + std::to_string(t.processed) + ", \"sent\": "
           + std::to_string(t.sent) + ", \"scheduled\": " + std::to_string(t.scheduled)
           + ", \"skipped\": " + std::to_string(t.skipped) + ", \"failed\": "
           + std::to_string(t.failed) + ", \"created_at\": " + json_time(t.created_at)
           + ", \"started_at\": " + json_time(t.started_at)
           + ", \"finished_at\": " + json_time(t.finished_at) + "}";
  }
  return out + "]\n";
}

std::string format_queue_stats(const queue::queue_stats& s) {
  return columns({{"stream length:", std::to_string(s.length)},
                  {"pending:", std::to_string(s.pending)},
                  {"delayed:", std::to_string(s.delayed)},
                  {"dead:", std::to_string(s.dead)},
                  {"consumers:", std::to_string(s.consumers)}});
}

std::string queue_stats_json(const queue::queue_stats& s) {
  return "{\"length\": " + std::to_string(s.length) + ", \"pending\": " + std::to_string(s.pending)
         + ", \"delayed\": " + std::to_string(s.delayed) + ", \"dead\": " + std::to_string(s.dead)
         + ", \"consumers\": " + std::to_string(s.consumers) + "}\n";
}

std::string format_providers(const std::vector<delivery::published_status>& providers) {
  if (providers.empty())
    return "no providers published in the last 10 s (is heraldd running with this Redis and "
           "prefix?)\n";
  std::vector<std::vector<std::string>> rows{
      {"NAME", "KIND", "INSTANCE", "STATE", "RATE/S", "SENT", "FAILED", "RETRIES"}};
  for (const auto& p : providers) {
    char rate[32];
    std::snprintf(rate, sizeof rate, "%g", p.status.rate_per_s);
    rows.push_back({p.status.name, std::string(delivery::to_string(p.status.kind)), p.instance,
                    std::string(delivery::to_string(p.status.state)),
                    p.status.rate_per_s > 0 ? rate : "-", std::to_string(p.status.sent),
                    std::to_string(p.status.failed), std::to_string(p.status.retries)});
  }
  std::string text = columns(rows);
  for (const auto& p : providers) {
    if (p.status.recent_errors.empty()) continue;
    text += "recent errors of " + p.status.name + " (" + p.instance + "):\n";
    for (const auto& e : p.status.recent_errors) text += "  " + e + "\n";
  }
  return text;
}

std::string providers_json(const std::vector<delivery::published_status>& providers) {
  std::string out = "[";
  for (std::size_t i = 0; i < providers.size(); ++i) {
    if (i) out += ", ";
    out += delivery::status_json(providers[i].status, providers[i].instance,
                                 providers[i].updated_at_ms);
  }
  return out + "]\n";
}

std::string format_dead_letters(const std::vector<queue::dead_letter>& dead) {
  if (dead.empty()) return "no dead letters\n";
  std::vector<std::vector<std::string>> rows{
      {"ID", "TASK_ID", "TYPE", "ACCOUNT", "DELIVERIES", "DEAD_AT", "REASON"}};
  for (const auto& d : dead)
    rows.push_back({d.id, d.task_id.empty() ? "-" : d.task_id, d.type.empty() ? "-" : d.type,
                    d.account.empty() ? "-" : d.account, std::to_string(d.deliveries),
                    time_or_dash(d.dead_at), d.reason});
  return columns(rows);
}

std::string dead_letters_json(const std::vector<queue::dead_letter>& dead) {
  std::string out = "[";
  for (const auto& d : dead) {
    if (out.size() > 1) out += ", ";
    out += "{\"id\": " + json_quote(d.id) + ", \"entry_id\": " + json_quote(d.entry_id)
           + ", \"task_id\": " + json_quote(d.task_id) + ", \"type\": " + json_quote(d.type)
           + ", \"account\": " + json_quote(d.account) + ", \"reason\": " + json_quote(d.reason)
           + ", \"deliveries\": " + std::to_string(d.deliveries)
           + ", \"dead_at\": " + json_time(d.dead_at) + "}";
  }
  return out + "]\n";
}

std::string format_profile(const profiles::profile& p, std::int64_t db_id) {
  std::string out = columns({{"profile:", p.id},
                             {"db:", std::to_string(db_id)},
                             {"created:", time_or_dash(p.created_at)},
                             {"updated:", time_or_dash(p.updated_at)}});
  if (p.fields.empty()) {
    out += "fields: none\n";
  } else {
    out += "fields:\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& [name, value] : p.fields)
      rows.push_back({"  " + plain_or_quoted(name), field_text(value)});
    out += columns(rows);
  }
  if (p.subscriptions.empty()) {
    out += "subscriptions: none\n";
  } else {
    out += "subscriptions:\n";
    std::vector<std::vector<std::string>> rows{{"  CHANNEL", "RESOURCE", "STATUS", "ADDRESS"}};
    for (const auto& s : p.subscriptions)
      rows.push_back({"  " + std::string(profiles::to_string(s.ch)), std::to_string(s.resource_id),
                      std::string(profiles::to_string(s.status)), subscription_details(s)});
    out += columns(rows);
  }
  return out;
}

}  // namespace herald::cli
