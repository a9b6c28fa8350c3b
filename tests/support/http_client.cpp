#include "support/http_client.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <stdexcept>

namespace herald::test {

namespace {

using clock = std::chrono::steady_clock;

char lower(char c) {
  return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return lower(x) == lower(y);
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::runtime_error malformed(std::string_view why) {
  return std::runtime_error("malformed HTTP response: " + std::string(why));
}

std::size_t parse_number(std::string_view text, int base, std::string_view what) {
  std::size_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (ec != std::errc{} || end == text.data()) throw malformed("bad " + std::string(what));
  return value;
}

// De-chunks the body at the start of `data`: the body and the bytes it took, or nothing when
// incomplete.
std::optional<std::pair<std::string, std::size_t>> read_chunked(std::string_view data) {
  std::string body;
  std::size_t pos = 0;
  for (;;) {
    const auto line_end = data.find("\r\n", pos);
    if (line_end == std::string_view::npos) return std::nullopt;
    std::string_view size_text = data.substr(pos, line_end - pos);
    size_text = size_text.substr(0, size_text.find(';'));
    const std::size_t size = parse_number(trim(size_text), 16, "chunk size");
    pos = line_end + 2;
    if (size == 0) {
      // Trailer fields, then an empty line.
      for (;;) {
        const auto end = data.find("\r\n", pos);
        if (end == std::string_view::npos) return std::nullopt;
        const bool empty = end == pos;
        pos = end + 2;
        if (empty) return std::pair{std::move(body), pos};
      }
    }
    if (data.size() < pos + size + 2) return std::nullopt;
    body.append(data.substr(pos, size));
    if (data.substr(pos + size, 2) != "\r\n") throw malformed("chunk not followed by CRLF");
    pos += size + 2;
  }
}

}  // namespace

bool header_name_less::operator()(std::string_view a, std::string_view b) const {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(),
                                      [](char x, char y) { return lower(x) < lower(y); });
}

std::string http_response::header(std::string_view name) const {
  const auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

std::optional<std::pair<http_response, std::size_t>> parse_http_response(std::string_view data,
                                                                         bool eof,
                                                                         bool head_request) {
  const auto head_end = data.find("\r\n\r\n");
  if (head_end == std::string_view::npos) {
    if (eof && !data.empty()) throw malformed("connection closed inside the header");
    return std::nullopt;
  }
  http_response res;
  std::string_view head = data.substr(0, head_end + 2);
  const auto status_end = head.find("\r\n");
  const std::string_view status_line = head.substr(0, status_end);
  head.remove_prefix(status_end + 2);
  if (!status_line.starts_with("HTTP/")) throw malformed("status line " + std::string(status_line));
  const auto sp1 = status_line.find(' ');
  if (sp1 == std::string_view::npos) throw malformed("status line " + std::string(status_line));
  res.version = std::string(status_line.substr(0, sp1));
  const std::string_view rest = status_line.substr(sp1 + 1);
  res.status = static_cast<int>(parse_number(rest.substr(0, 3), 10, "status code"));
  if (rest.size() > 4) res.reason = std::string(rest.substr(4));
  while (!head.empty()) {
    const auto line_end = head.find("\r\n");
    const std::string_view line = head.substr(0, line_end);
    head.remove_prefix(line_end + 2);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) throw malformed("header line " + std::string(line));
    const std::string name(trim(line.substr(0, colon)));
    const std::string value(trim(line.substr(colon + 1)));
    auto [it, inserted] = res.headers.try_emplace(name, value);
    if (!inserted) it->second += ", " + value;
  }

  std::size_t used = head_end + 4;
  const std::string_view after = data.substr(used);
  const bool no_body =
      head_request || res.status / 100 == 1 || res.status == 204 || res.status == 304;
  if (no_body) return std::pair{std::move(res), used};
  if (const auto te = res.header("Transfer-Encoding");
      !te.empty() && iequals(trim(std::string_view(te).substr(te.rfind(',') + 1)), "chunked")) {
    auto chunked = read_chunked(after);
    if (!chunked) {
      if (eof) throw malformed("connection closed inside a chunked body");
      return std::nullopt;
    }
    res.body = std::move(chunked->first);
    return std::pair{std::move(res), used + chunked->second};
  }
  if (res.has_header("Content-Length")) {
    const std::size_t length = parse_number(res.header("Content-Length"), 10, "Content-Length");
    if (after.size() < length) {
      if (eof) throw malformed("connection closed inside the body");
      return std::nullopt;
    }
    res.body = std::string(after.substr(0, length));
    return std::pair{std::move(res), used + length};
  }
  if (!eof) return std::nullopt;  // the body runs to the end of the connection
  res.body = std::string(after);
  return std::pair{std::move(res), data.size()};
}

raw_connection::raw_connection(const std::string& host, unsigned short port,
                               const std::string& source) {
  const std::string where = host + ":" + std::to_string(port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
      rc != 0) {
    throw std::runtime_error("cannot resolve " + where + ": " + ::gai_strerror(rc));
  }
  int error = 0;
  for (addrinfo* ai = found; ai && fd_ < 0; ai = ai->ai_next) {
    const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      error = errno;
      continue;
    }
    int rc = 0;
    if (!source.empty()) {
      sockaddr_in local{};
      local.sin_family = AF_INET;
      if (ai->ai_family != AF_INET || ::inet_pton(AF_INET, source.c_str(), &local.sin_addr) != 1) {
        ::close(fd);
        throw std::runtime_error("cannot connect to " + where + " from " + source
                                 + ": not an IPv4 address for an IPv4 peer");
      }
      if (::bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0) {
        error = errno;
        ::close(fd);
        continue;
      }
    }
    do {
      rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
    } while (rc < 0 && errno == EINTR);
    if (rc == 0) {
      fd_ = fd;
    } else {
      error = errno;
      ::close(fd);
    }
  }
  ::freeaddrinfo(found);
  if (fd_ < 0) throw std::runtime_error("cannot connect to " + where + ": " + std::strerror(error));
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

raw_connection::~raw_connection() {
  close();
}

void raw_connection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void raw_connection::shutdown_write() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

bool raw_connection::send(std::string_view bytes) {
  while (!bytes.empty()) {
    if (fd_ < 0) return false;
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EPIPE || errno == ECONNRESET) peer_closed_ = true;
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

bool raw_connection::fill(clock::time_point deadline) {
  if (fd_ < 0 || peer_closed_) return false;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    pollfd p{fd_, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(left.count(), 0)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;
    char chunk[65536];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n > 0) {
      buffer_.append(chunk, static_cast<std::size_t>(n));
    } else {
      peer_closed_ = true;  // FIN (0) or an error such as a reset
    }
    return true;
  }
}

std::optional<http_response> raw_connection::read_response(std::chrono::milliseconds timeout,
                                                           bool head_request) {
  const auto deadline = clock::now() + timeout;
  for (;;) {
    if (auto parsed = parse_http_response(buffer_, peer_closed_, head_request)) {
      buffer_.erase(0, parsed->second);
      return std::move(parsed->first);
    }
    if (peer_closed_ || !fill(deadline)) return std::nullopt;
  }
}

std::string raw_connection::read_until_close(std::chrono::milliseconds timeout) {
  const auto deadline = clock::now() + timeout;
  while (!peer_closed_ && fill(deadline)) {
  }
  return std::exchange(buffer_, {});
}

bool raw_connection::closed_within(std::chrono::milliseconds timeout) {
  const auto deadline = clock::now() + timeout;
  while (!peer_closed_ && fill(deadline)) {
  }
  return peer_closed_;
}

http_response http_request(std::string host, unsigned short port, std::string method,
                           std::string target, std::string body,
                           std::vector<std::pair<std::string, std::string>> headers,
                           std::chrono::milliseconds timeout) {
  const auto has = [&](std::string_view name) {
    return std::any_of(headers.begin(), headers.end(),
                       [&](const auto& h) { return iequals(h.first, name); });
  };
  std::string request = method + " " + target + " HTTP/1.1\r\n";
  if (!has("Host")) request += "Host: " + host + ":" + std::to_string(port) + "\r\n";
  for (const auto& [name, value] : headers) request += name + ": " + value + "\r\n";
  const bool body_expected =
      !body.empty() || method == "POST" || method == "PUT" || method == "PATCH";
  if (body_expected && !has("Content-Length") && !has("Transfer-Encoding")) {
    request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  if (!has("Connection")) request += "Connection: close\r\n";
  request += "\r\n";
  request += body;

  const std::string where = method + " http://" + host + ":" + std::to_string(port) + target;
  raw_connection connection(host, port);
  // A server may answer early (413) and close before taking the whole body: read on regardless.
  connection.send(request);
  const auto deadline = clock::now() + timeout;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    auto res =
        connection.read_response(std::max(left, std::chrono::milliseconds(0)), method == "HEAD");
    if (!res) {
      throw std::runtime_error(
          where + ": no whole response"
          + (connection.peer_closed() ? " before the connection closed" : " within the timeout"));
    }
    if (res->status / 100 != 1) return std::move(*res);
  }
}

}  // namespace herald::test
