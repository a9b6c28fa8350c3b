#include "support/herald_cli.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>

namespace herald::test {

using namespace std::chrono_literals;

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

std::filesystem::path herald_cli::new_path(std::string_view stem, std::string_view extension) {
  std::string name(stem);
  name += "." + std::to_string(++runs_);
  name += extension;
  return dir_ / name;
}

cli_result herald_cli::run(std::vector<std::string> args) {
  const auto out = new_path("out"), err = new_path("err");
  std::vector<std::string> argv{"/bin/sh", "-c", R"(exec "$0" "$@" 2>"$HERALD_TEST_ERR")",
                                HERALD_CLI};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<std::string> env{"HERALD_TEST_ERR=" + err.string()};
  env.insert(env.end(), env_.begin(), env_.end());
  child_process p(argv, env, out);
  cli_result r;
  const auto code = p.wait_for(60s);
  EXPECT_TRUE(code) << "herald " << args.front() << " did not finish within 60 s";
  r.code = code.value_or(-1);
  r.out = read_text(out);
  r.err = read_text(err);
  return r;
}

herald_cli::finished_task herald_cli::enqueue_and_wait(const std::string& job,
                                                       const heraldd_process& daemon) {
  const auto path = new_path("job", ".json");
  std::ofstream(path) << job;
  const auto enqueued = run({"enqueue", path.string(), "--wait"});
  EXPECT_EQ(enqueued.code, 0) << enqueued.out << enqueued.err << daemon.log();
  finished_task task;
  task.task_id = enqueued.out.substr(0, enqueued.out.find('\n'));
  task.status = run({"status", task.task_id, "--json"});
  EXPECT_EQ(task.status.code, 0) << task.status.err;
  return task;
}

}  // namespace herald::test
