#include "support/redis_server.hpp"

#include <hiredis/hiredis.h>
#include <signal.h>

#include <stdexcept>

namespace herald::test {

using namespace std::chrono_literals;

redis_server::redis_server() : redis_server(options{}) {}

redis_server::redis_server(options opts) : opts_(std::move(opts)), dir_("herald-redis") {
  if (opts_.tcp)
    port_ = free_tcp_port();
  else
    socket_ = (dir_ / "redis.sock").string();
  start();
}

redis_server::~redis_server() {
  if (process_) {
    process_->signal(SIGCONT);
    process_->signal(SIGKILL);
    process_->wait_for(5s);
  }
}

std::string redis_server::url() const {
  if (!opts_.tcp) return "unix://" + socket_;
  std::string auth = opts_.password.empty() ? "" : ":" + opts_.password + "@";
  return "redis://" + auth + "127.0.0.1:" + std::to_string(port_);
}

void redis_server::start() {
  if (process_ && process_->running()) throw std::logic_error("redis-server already runs");
  std::vector<std::string> argv{
      HERALD_REDIS_SERVER, "--dir", dir_.path().string(), "--save", "", "--appendonly", "no",
      "--daemonize",       "no",    "--protected-mode",   "no"};
  if (opts_.tcp) {
    argv.insert(argv.end(), {"--port", std::to_string(port_), "--bind", "127.0.0.1"});
  } else {
    argv.insert(argv.end(), {"--port", "0", "--unixsocket", socket_, "--unixsocketperm", "700"});
  }
  if (!opts_.password.empty()) argv.insert(argv.end(), {"--requirepass", opts_.password});
  argv.insert(argv.end(), opts_.extra_args.begin(), opts_.extra_args.end());
  process_ = std::make_unique<child_process>(argv, std::vector<std::string>{}, dir_ / "redis.log");
  if (!wait_until([&] { return answers(); }, 10s))
    throw std::runtime_error("redis-server did not start: " + process_->log());
}

void redis_server::kill9() {
  process_->signal(SIGKILL);
  process_->wait_for(5s);
}

void redis_server::pause() {
  process_->signal(SIGSTOP);
}
void redis_server::resume() {
  process_->signal(SIGCONT);
}

namespace {

struct context_deleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
struct reply_deleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};

std::string flatten(const redisReply* r) {
  switch (r->type) {
    case REDIS_REPLY_INTEGER:
      return std::to_string(r->integer);
    case REDIS_REPLY_NIL:
      return "(nil)";
    case REDIS_REPLY_ARRAY: {
      std::string out;
      for (size_t i = 0; i < r->elements; ++i) {
        if (i) out += '\n';
        out += flatten(r->element[i]);
      }
      return out;
    }
    default:
      return std::string(r->str, r->len);
  }
}

}  // namespace

std::string redis_server::command(const std::vector<std::string>& args,
                                  std::chrono::milliseconds timeout) const {
  timeval tv{2, 0};
  std::unique_ptr<redisContext, context_deleter> c(
      opts_.tcp ? redisConnectWithTimeout("127.0.0.1", port_, tv)
                : redisConnectUnixWithTimeout(socket_.c_str(), tv));
  if (!c || c->err) throw std::runtime_error("cannot connect to the test redis-server");
  redisSetTimeout(c.get(), timeval{static_cast<time_t>(timeout.count() / 1000),
                                   static_cast<suseconds_t>(timeout.count() % 1000 * 1000)});
  auto call = [&](const std::vector<std::string>& a) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (auto& s : a) {
      argv.push_back(s.data());
      lens.push_back(s.size());
    }
    std::unique_ptr<redisReply, reply_deleter> r(static_cast<redisReply*>(
        redisCommandArgv(c.get(), static_cast<int>(a.size()), argv.data(), lens.data())));
    if (!r) throw std::runtime_error("test redis-server connection failed");
    return r;
  };
  if (!opts_.password.empty()) call({"AUTH", opts_.password});
  auto r = call(args);
  return flatten(r.get());
}

long long redis_server::integer(const std::vector<std::string>& args) const {
  return std::stoll(command(args));
}

bool redis_server::answers() const {
  try {
    return command({"PING"}) == "PONG";
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace herald::test
