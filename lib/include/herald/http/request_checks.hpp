// The checks a request's header passes before Herald reads its body or answers it. Its framing
// must be unambiguous (RFC 9112 sections 6 and 11.2): a proxy in front of heraldd that reads
// the bytes differently could otherwise smuggle a second request inside the first. Fields that
// a request may carry once (Host, Content-Length, Authorization) must come once.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <boost/beast/http/status.hpp>

#include "herald/http/message.hpp"

namespace herald::http {

struct request_refusal {
  boost::beast::http::status status;  // 400, or 501 for a transfer coding Herald does not decode
  std::string reason;                 // the envelope's error_debug: "http: ..."
};

// `block` is a request's header as received: from the request line through the empty line that
// ends it. Refused when it holds a NUL byte or a line folded onto the previous one (obs-fold: a
// line starting with a space or a tab).
std::optional<request_refusal> check_header_block(std::string_view block);

// The parsed header. Refused: HTTP/1.1 without Host; Host, Content-Length or Authorization given
// more than once; Transfer-Encoding together with Content-Length, in HTTP/1.0, empty, or whose
// last coding is not chunked (400); a coding before chunked (501: only chunked is decoded).
std::optional<request_refusal> check_request_header(const request_header& header);

// The position just past the empty line ending the header block at the start of `data`, or
// nothing while that line has not arrived.
std::optional<std::size_t> header_block_end(std::string_view data);

}  // namespace herald::http
