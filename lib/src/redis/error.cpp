#include "herald/redis/error.hpp"

#include <string_view>

namespace herald::redis {

namespace {

class redis_category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "herald.redis"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::not_connected:
        return "not connected to Redis (reconnecting)";
      case errc::connection_lost:
        return "the connection to Redis was lost while the command was in flight";
      case errc::timeout:
        return "Redis did not answer within the command's deadline";
      case errc::stopped:
        return "the Redis client was stopped";
      case errc::server_error:
        return "Redis answered with an error";
      case errc::unexpected_reply:
        return "Redis's reply is not of the expected type";
      case errc::invalid_url:
        return "invalid Redis URL";
      case errc::not_replicated:
        return "written, but fewer replicas than redis_wait_replicas acknowledged the write "
               "within redis_wait_ms (a failover could lose it); retry with the same "
               "idempotency key";
    }
    return "unknown Redis client error";
  }
};

}  // namespace

const boost::system::error_category& category() noexcept {
  static const redis_category instance;
  return instance;
}

bool connection_trouble(const boost::system::error_code& ec) noexcept {
  return ec == errc::not_connected || ec == errc::connection_lost || ec == errc::timeout;
}

bool temporarily_unavailable(const error& ex) noexcept {
  if (connection_trouble(ex.code())) return true;
  if (ex.code() != errc::server_error) return false;
  const std::string_view what = ex.what();
  for (std::string_view reply : {"LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN", "READONLY"})
    if (what.starts_with(reply)) return true;
  return false;
}

}  // namespace herald::redis
