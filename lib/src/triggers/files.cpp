#include "herald/triggers/files.hpp"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>
#include <tuple>

#include <simdjson.h>

#include "herald/auth/tokens.hpp"

namespace herald::triggers {

namespace {

// The largest trigger file read: far above any sensible file, below an accident.
constexpr std::uintmax_t max_file_bytes = 16 * 1024 * 1024;

void read_one(simdjson::dom::element e, const std::string& origin, const provider_kinds& providers,
              trigger_files& out) {
  auto parsed = parse_trigger(e, {.account_field = true});
  if (!parsed.value) {
    out.faults.push_back(origin + ": " + parsed.error->text());
    return;
  }
  if (!auth::valid_account_name(*parsed.account)) {
    out.faults.push_back(origin + ": account: \"" + *parsed.account
                         + "\" is not an account name (1 to 64 characters of A-Za-z0-9_.-)");
    return;
  }
  if (auto error = validate(*parsed.value, providers)) {
    out.faults.push_back(origin + ": " + error->text());
    return;
  }
  out.triggers.push_back({std::move(*parsed.account), std::move(*parsed.value), origin});
}

}  // namespace

void read_trigger_file(const std::filesystem::path& path, const provider_kinds& providers,
                       trigger_files& out) {
  const std::string name = path.filename().string();
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) {
    out.faults.push_back(name + ": cannot read: " + ec.message());
    return;
  }
  if (size > max_file_bytes) {
    out.faults.push_back(name + ": larger than 16 MiB");
    return;
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) {
    out.faults.push_back(name + ": cannot read");
    return;
  }
  read_trigger_text(text.str(), name, providers, out);
}

void read_trigger_text(std::string_view body, const std::string& name,
                       const provider_kinds& providers, trigger_files& out) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto error = parser.parse(body.data(), body.size()).get(root)) {
    out.faults.push_back(name + ": not valid JSON (" + simdjson::error_message(error) + ")");
    return;
  }
  simdjson::dom::array list;
  if (root.get(list) == simdjson::SUCCESS) {
    std::size_t i = 0;
    for (auto e : list) {
      read_one(e, name + "[" + std::to_string(i) + "]", providers, out);
      ++i;
    }
    return;
  }
  read_one(root, name, providers, out);
}

trigger_files read_trigger_dir(const std::filesystem::path& dir, const provider_kinds& providers) {
  trigger_files out;
  std::error_code ec;
  std::vector<std::filesystem::path> paths;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() == ".json" && !it->is_directory()) paths.push_back(it->path());
  }
  if (ec) {
    out.faults.push_back(dir.string() + ": cannot read the directory: " + ec.message());
    return out;
  }
  std::sort(paths.begin(), paths.end());
  for (const auto& p : paths) read_trigger_file(p, providers, out);
  // One (account, id) in two places: neither the later one nor a silent winner.
  std::set<std::pair<std::string, std::uint64_t>> seen;
  std::vector<file_trigger> kept;
  for (auto& t : out.triggers) {
    if (!seen.emplace(t.account, t.definition.id).second) {
      out.faults.push_back(t.origin + ": id: trigger " + std::to_string(t.definition.id)
                           + " of account " + t.account + " is given twice; the first one is "
                           "kept");
      continue;
    }
    kept.push_back(std::move(t));
  }
  out.triggers = std::move(kept);
  return out;
}

boost::asio::awaitable<upsert_report> upsert_all(trigger_store& store, const trigger_files& files) {
  upsert_report report;
  for (const auto& t : files.triggers) {
    auto r = co_await store.upsert(t.account, t.definition);
    if (r.outcome == save_outcome::full)
      ++report.full;
    else if (r.outcome == save_outcome::created)
      ++report.created;
    else if (r.outcome == save_outcome::updated)
      ++report.updated;
    else
      ++report.unchanged;
  }
  co_return report;
}

}  // namespace herald::triggers
