// What `herald enqueue` reads: a job file (or just a body, with --type) turned into a validated
// queue::new_job, its items counted by the job type's own handler before anything is enqueued.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "herald/queue/handler.hpp"
#include "herald/queue/task_store.hpp"

namespace herald::cli {

// What the command line sets on the job; each set value wins over the file's.
struct job_overrides {
  std::optional<std::string> type;  // set: the whole file is the body
  std::optional<std::string> account;
  std::optional<std::string> task_id;
  std::optional<std::string> idempotency_key;
  std::optional<std::string> run_at;
  std::string default_account = "default";  // when neither the file nor a flag names one
};

// How large and how far ahead a job may be.
struct job_limits {
  // Bytes of a job file (or stdin) read at most: the queue's max_job_bytes, the HTTP body limit.
  std::uint64_t max_job_bytes = 10 * 1024 * 1024;
  // How far ahead of now run_at may be: a typo ("+999999999d", a year 9999) would otherwise
  // park the job for ever.
  std::chrono::milliseconds max_run_ahead = std::chrono::hours(24 * 365);
};

// An idempotency key's longest length, in characters (the job schema's maxLength).
using queue::max_idempotency_key_chars;

// The contents of the job file `file` ("-": stdin), read up to limits.max_job_bytes. Throws
// cli_error(usage) for a directory, an unreadable file, an empty stdin, or more bytes than the
// limit (naming it), without reading past the limit (so /dev/zero is refused at once).
std::string read_job_input(const std::string& file, const job_limits& limits = {});

// Parses the file's text: `{"type", "body", "account"?, "task_id"?, "idempotency_key"?,
// "run_at"?}` (`"v": 1` is allowed too), or, with overrides.type, the body alone. Then checks the
// type against `handlers` and lets its handler validate the body, which gives the job's total.
// Throws cli_error(usage) naming the field that is wrong (`body.items: must be ...`).
// run_at more than limits.max_run_ahead after `now_ms` is refused, saying why; an idempotency key
// of more than max_idempotency_key_chars characters too.
queue::new_job read_job(std::string_view text, const job_overrides& overrides,
                        const queue::handler_registry& handlers, std::int64_t now_ms,
                        const job_limits& limits = {});

// When a job should run, in ms since the epoch: digits (ms since the epoch), ISO-8601
// ("2026-11-23T05:00:00Z", fractional seconds and a "+02:00" offset allowed; no offset means
// UTC), or "+DURATION" from now ("+30s", "+5m"). Nothing when the text is none of these.
std::optional<std::int64_t> parse_run_at(std::string_view text, std::int64_t now_ms);

}  // namespace herald::cli
