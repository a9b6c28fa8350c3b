// The built `herald` as a child process of an end-to-end test, and the small text helpers those
// tests read its output with.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "support/heraldd.hpp"
#include "support/process.hpp"

namespace herald::test {

// How a run of herald ended: its exit code (-1 when it did not finish) and what it wrote.
struct cli_result {
  int code = -1;
  std::string out, err;
};

// A file's whole text ("" when it cannot be read).
std::string read_text(const std::filesystem::path& path);

bool contains(const std::string& text, std::string_view part);

// Runs the built herald with `env` ("NAME=value") over this process's environment, its stdout and
// stderr kept apart in files of `dir`. Each run must finish within 60 s.
class herald_cli {
 public:
  herald_cli(const temp_dir& dir, std::vector<std::string> env) : dir_(dir), env_(std::move(env)) {}

  cli_result run(std::vector<std::string> args);

  // A path in the directory not handed out before: `stem`.N`extension`.
  std::filesystem::path new_path(std::string_view stem, std::string_view extension = {});

  struct finished_task {
    std::string task_id;
    cli_result status;  // of `herald status ID --json`
  };
  // Writes `job` to a file and runs `herald enqueue FILE --wait`, then `herald status ID --json`;
  // each must exit 0 (a failure shows `daemon`'s log).
  finished_task enqueue_and_wait(const std::string& job, const heraldd_process& daemon);

 private:
  const temp_dir& dir_;
  std::vector<std::string> env_;
  int runs_ = 0;
};

}  // namespace herald::test
