#include "herald/providers/webhook.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace herald::providers {

webhook::webhook(delivery::provider_config config) : provider(std::move(config)) {}

std::string webhook_signature(std::string_view secret, std::string_view body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &len);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "sha256=";
  for (unsigned i = 0; i < len; ++i) {
    out += hex[mac[i] >> 4];
    out += hex[mac[i] & 15];
  }
  return out;
}

outbound::http_request webhook::request(std::span<const message* const> batch) const {
  const message& m = *batch.front();
  outbound::http_request r;
  r.method = "POST";
  r.url = config_.base_url;
  r.body = message_json(m);
  r.headers.push_back({"Content-Type", "application/json"});
  if (!m.key.empty()) r.headers.push_back({"Idempotency-Key", m.key});
  r.headers.push_back({"X-Herald-Signature", webhook_signature(config_.secret, r.body)});
  return r;
}

}  // namespace herald::providers
