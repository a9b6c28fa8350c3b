#include "herald/queue/keys.hpp"

namespace herald::queue {

queue_keys::queue_keys(std::string prefix, std::string queue)
    : base_(prefix + ":{" + queue + "}:"),
      jobs_(base_ + "jobs"),
      delayed_(base_ + "delayed"),
      dead_(base_ + "dead"),
      queued_(base_ + "queued") {}

std::string queue_keys::task(std::string_view task_id) const {
  std::string k;
  k.reserve(base_.size() + 5 + task_id.size());
  k.append(base_).append("task:").append(task_id);
  return k;
}

std::string queue_keys::items(std::string_view task_id) const {
  return task(task_id) + ":items";
}

std::string queue_keys::account_tasks(std::string_view account) const {
  return base_ + "tasks:" + std::string(account);
}

std::string& queue_keys::task(std::string& out, std::string_view task_id) const {
  return out.assign(base_).append("task:").append(task_id);
}

std::string& queue_keys::items(std::string& out, std::string_view task_id) const {
  return task(out, task_id).append(":items");
}

std::string& queue_keys::account_tasks(std::string& out, std::string_view account) const {
  return out.assign(base_).append("tasks:").append(account);
}

std::string queue_keys::idempotency(std::string_view account, std::string_view key) const {
  return base_ + "idem:" + std::string(account) + ":" + std::string(key);
}

}  // namespace herald::queue
