// Triggers from a directory of JSON files (the `triggers_dir` config key): each *.json holds a
// trigger with an `account` field, or an array of them. Reading and validating is plain work on
// files; upserting them is the store's. A bad trigger is reported naming its file, its place in
// the file and its field, and does not stop the others.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "herald/triggers/store.hpp"
#include "herald/triggers/trigger.hpp"

namespace herald::triggers {

struct file_trigger {
  std::string account;
  trigger definition;
  std::string origin;  // "demo.json", or "many.json[2]" for an array's third trigger
};

struct trigger_files {
  std::vector<file_trigger> triggers;  // the valid ones, in file name order
  // One line per fault: "bad.json[1]: message.text: line 1, column 16: unknown filter ...".
  std::vector<std::string> faults;
};

// Reads `path`, one file, into `out`.
void read_trigger_file(const std::filesystem::path& path, const provider_kinds& providers,
                       trigger_files& out);
// The text of a file named `name`, into `out`.
void read_trigger_text(std::string_view text, const std::string& name,
                       const provider_kinds& providers, trigger_files& out);
// Every *.json directly in `dir`, by name. A directory that cannot be read is one fault.
trigger_files read_trigger_dir(const std::filesystem::path& dir, const provider_kinds& providers);

struct upsert_report {
  std::size_t created = 0, updated = 0, unchanged = 0;
  std::size_t full = 0;  // not saved: the account has store_config::max_triggers
};
// Upserts every trigger of `files` (an unchanged one saves no new version).
boost::asio::awaitable<upsert_report> upsert_all(trigger_store& store, const trigger_files& files);

}  // namespace herald::triggers
