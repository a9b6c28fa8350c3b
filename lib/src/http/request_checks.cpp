#include "herald/http/request_checks.hpp"

#include <algorithm>
#include <vector>

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>

namespace herald::http {

namespace {

namespace bhttp = boost::beast::http;

request_refusal bad_request(std::string reason) {
  return {bhttp::status::bad_request, std::move(reason)};
}

bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// RFC 9110 5.6.2.
bool is_token(std::string_view s) {
  constexpr std::string_view specials = "!#$%&'*+-.^_`|~";
  return !s.empty() && std::all_of(s.begin(), s.end(), [&](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z')
           || specials.find(c) != std::string_view::npos;
  });
}

// A client's text, short enough to quote in a reply.
std::string shown(std::string_view s) {
  constexpr std::size_t max_shown = 40;
  std::string out = "\"";
  out.append(s.substr(0, max_shown));
  if (s.size() > max_shown) out += "...";
  return out + '"';
}

std::optional<request_refusal> check_transfer_encoding(const request_header& header) {
  // Every Transfer-Encoding field, in order, as one list (RFC 9110 5.3).
  std::vector<std::string_view> codings;
  for (const auto& f : header) {
    if (f.name() != bhttp::field::transfer_encoding) continue;
    std::string_view rest(f.value().data(), f.value().size());
    for (;;) {
      const auto comma = rest.find(',');
      const std::string_view element = trim_ows(rest.substr(0, comma));
      if (!element.empty()) {  // empty list elements are ignored (RFC 9110 5.6.1)
        if (!is_token(element)) {
          return bad_request("http: bad Transfer-Encoding: " + shown(element)
                             + " is not a transfer coding");
        }
        codings.push_back(element);
      }
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  if (codings.empty()) return bad_request("http: bad Transfer-Encoding: empty");
  if (!boost::beast::iequals(codings.back(), "chunked")) {
    return bad_request("http: bad Transfer-Encoding: the last coding must be chunked, not "
                       + shown(codings.back()));
  }
  for (std::size_t i = 0; i + 1 < codings.size(); ++i) {
    if (boost::beast::iequals(codings[i], "chunked")) {
      return bad_request("http: bad Transfer-Encoding: chunked given more than once");
    }
    return request_refusal{
        bhttp::status::not_implemented,
        "http: unsupported transfer coding " + shown(codings[i]) + "; only chunked is accepted"};
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::size_t> header_block_end(std::string_view data) {
  const auto end = data.find("\r\n\r\n");
  if (end == std::string_view::npos) return std::nullopt;
  return end + 4;
}

std::optional<request_refusal> check_header_block(std::string_view block) {
  if (block.find('\0') != std::string_view::npos) {
    return bad_request("http: a NUL byte in the request header");
  }
  // A CRLF followed by whitespace starts a folded line, unless it is the block's last CRLF.
  for (auto crlf = block.find("\r\n"); crlf != std::string_view::npos && crlf + 2 < block.size();
       crlf = block.find("\r\n", crlf + 2)) {
    if (is_ows(block[crlf + 2])) {
      return bad_request(
          "http: a header line starts with whitespace (obs-fold is not accepted; write each "
          "field on one line)");
    }
  }
  return std::nullopt;
}

std::optional<request_refusal> check_request_header(const request_header& header) {
  std::size_t hosts = 0, content_lengths = 0, transfer_encodings = 0, authorizations = 0;
  for (const auto& f : header) {
    switch (f.name()) {
      case bhttp::field::host:
        ++hosts;
        break;
      case bhttp::field::content_length:
        ++content_lengths;
        break;
      case bhttp::field::transfer_encoding:
        ++transfer_encodings;
        break;
      case bhttp::field::authorization:
        ++authorizations;
        break;
      default:
        break;
    }
  }
  if (hosts == 0 && header.version() >= 11) {
    return bad_request("http: an HTTP/1.1 request needs a Host header");
  }
  if (hosts > 1) return bad_request("http: Host header given more than once");
  if (authorizations > 1) return bad_request("http: Authorization header given more than once");
  if (content_lengths > 1) return bad_request("http: Content-Length header given more than once");
  if (transfer_encodings == 0) return std::nullopt;
  if (content_lengths > 0) {
    return bad_request("http: both Content-Length and Transfer-Encoding; send one");
  }
  if (header.version() < 11) {
    return bad_request("http: Transfer-Encoding in an HTTP/1.0 request");
  }
  return check_transfer_encoding(header);
}

}  // namespace herald::http
