#include "herald/redis/checks.hpp"

#include <charconv>

namespace herald::redis {

namespace {

// "7.0.15" -> 7; -1 when it is not a version.
int major_of(std::string_view version) {
  int major = -1;
  auto [p, ec] = std::from_chars(version.data(), version.data() + version.size(), major);
  if (ec != std::errc() || p == version.data()) return -1;
  return major;
}

}  // namespace

bool check_report::refused() const {
  for (const auto& v : verdicts)
    if (v.severity == verdict::level::refusal) return true;
  return false;
}

std::string check_report::summary() const {
  std::string out;
  for (const auto& v : verdicts) {
    if (!out.empty()) out += "; ";
    out += v.text;
  }
  return out;
}

void parse_info(std::string_view info, server_facts& facts) {
  while (!info.empty()) {
    auto eol = info.find('\n');
    std::string_view line = info.substr(0, eol);
    info = eol == std::string_view::npos ? std::string_view() : info.substr(eol + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    auto colon = line.find(':');
    if (line.empty() || line.front() == '#' || colon == std::string_view::npos) continue;
    auto name = line.substr(0, colon);
    auto value = line.substr(colon + 1);
    if (name == "redis_version")
      facts.version = value;
    else if (name == "maxmemory_policy" && facts.maxmemory_policy.empty())
      facts.maxmemory_policy = value;
    else if (name == "aof_enabled" && !facts.aof)
      facts.aof = value == "1";
  }
}

check_report check_server(const server_facts& facts, const check_options& options) {
  check_report r;
  auto refuse = [&](std::string text) { r.verdicts.push_back({verdict::level::refusal, text}); };
  auto warn = [&](std::string text) { r.verdicts.push_back({verdict::level::warning, text}); };
  int major = major_of(facts.version);
  if (major >= 0 && major < 7)
    refuse("Redis " + facts.version + " is older than 7.0, which Herald needs");
  if (!facts.maxmemory_policy.empty() && facts.maxmemory_policy != "noeviction") {
    if (options.allow_eviction)
      warn("maxmemory-policy is " + facts.maxmemory_policy
           + " (allowed by allow_eviction): Redis may evict queued jobs when memory is full");
    else
      refuse("maxmemory-policy is " + facts.maxmemory_policy
             + ": Redis would evict queued jobs when memory is full; set it to noeviction, or "
               "allow_eviction = true to run anyway");
  }
  if (options.configured && facts.aof == false && facts.save && facts.save->empty())
    warn("persistence is off (appendonly no, save \"\"): a restart of Redis loses every job");
  if (facts.aof == true && facts.appendfsync == "no")
    warn(
        "appendfsync is no: a crash of the machine may lose the last ~30 s of acknowledged "
        "jobs; everysec or always keeps them");
  return r;
}

}  // namespace herald::redis
