#include "support/heraldd.hpp"

#include <signal.h>

#include <regex>
#include <stdexcept>

#include "support/secrets.hpp"

namespace herald::test {

using namespace std::chrono_literals;

heraldd_process::heraldd_process() : heraldd_process(options{}) {}

heraldd_process::heraldd_process(options opts) : opts_(std::move(opts)), state_("heraldd") {
  start();
}

heraldd_process::~heraldd_process() {
  if (process_ && process_->running()) {
    auto redis = child_pids(process_->pid(), "redis-server");
    process_->signal(SIGKILL);
    process_->wait_for(5s);
    for (pid_t p : redis) ::kill(p, SIGKILL);
  }
  if (process_) archive_heraldd_log(state_ / "heraldd.log");
}

void heraldd_process::start() {
  std::vector<std::string> env{
      "HERALD_STATE_DIR=" + state_.path().string(), "HERALD_HTTP_LISTEN=127.0.0.1:0",
      "HERALD_REDIS_URL=" + (opts_.redis_url.empty() ? std::string("embedded") : opts_.redis_url),
      "JOURNAL_STREAM="};
  env.insert(env.end(), opts_.extra_env.begin(), opts_.extra_env.end());
  std::vector<std::string> argv{HERALD_HERALDD};
  argv.insert(argv.end(), opts_.extra_args.begin(), opts_.extra_args.end());
  record_secrets(env, argv);
  process_ = std::make_unique<child_process>(argv, env, state_ / "heraldd.log");
  if (!opts_.wait_until_listening) return;
  std::regex listening(R"(listening on http://127\.0\.0\.1:([0-9]+))");
  bool up = wait_until(
      [&] {
        std::smatch m;
        auto text = process_->log();
        if (!std::regex_search(text, m, listening)) return !process_->running();
        port_ = static_cast<unsigned short>(std::stoi(m[1]));
        return true;
      },
      30s);
  if (!up || port_ == 0) throw std::runtime_error("heraldd did not start listening:\n" + log());
}

int heraldd_process::terminate(std::chrono::milliseconds timeout) {
  process_->signal(SIGTERM);
  auto code = process_->wait_for(timeout);
  return code ? *code : -1;
}

http_response heraldd_process::get(const std::string& target,
                                   std::vector<std::pair<std::string, std::string>> headers) {
  return http_request("127.0.0.1", port_, "GET", target, {}, std::move(headers), 10s);
}

http_response heraldd_process::post(const std::string& target, std::string body,
                                    std::vector<std::pair<std::string, std::string>> headers) {
  headers.emplace_back("Content-Type", "application/json");
  return http_request("127.0.0.1", port_, "POST", target, std::move(body), std::move(headers), 30s);
}

}  // namespace herald::test
