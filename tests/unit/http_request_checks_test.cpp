// The framing checks a request's header passes before its body is read (request smuggling,
// issue 10 defect 1 and issue 12's list), without sockets.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "herald/http/request_checks.hpp"

namespace {

namespace bhttp = boost::beast::http;
using herald::http::check_header_block;
using herald::http::check_request_header;
using herald::http::request_header;

request_header header_with(std::vector<std::pair<bhttp::field, std::string>> fields,
                           unsigned version = 11) {
  request_header h;
  h.method(bhttp::verb::post);
  h.target("/x");
  h.version(version);
  h.insert(bhttp::field::host, "test");
  for (const auto& [name, value] : fields) h.insert(name, value);
  return h;
}

TEST(http_request_checks, a_transfer_encoding_must_end_in_chunked) {
  for (const std::string te : {"gzip", "identity", "xchunked", "", " , ", "chunked, gzip",
                               "chunked;q=1", "chunked, chunked"}) {
    const auto refused = check_request_header(header_with({{bhttp::field::transfer_encoding, te}}));
    ASSERT_TRUE(refused) << te;
    EXPECT_EQ(refused->status, bhttp::status::bad_request) << te;
    EXPECT_TRUE(refused->reason.starts_with("http: bad Transfer-Encoding")) << refused->reason;
  }
  for (const std::string te : {"chunked", "Chunked", " chunked ", "chunked,", ", chunked"}) {
    EXPECT_FALSE(check_request_header(header_with({{bhttp::field::transfer_encoding, te}}))) << te;
  }
}

TEST(http_request_checks, a_coding_before_chunked_is_not_implemented) {
  const auto one =
      check_request_header(header_with({{bhttp::field::transfer_encoding, "gzip, chunked"}}));
  ASSERT_TRUE(one);
  EXPECT_EQ(one->status, bhttp::status::not_implemented);
  EXPECT_EQ(one->reason, "http: unsupported transfer coding \"gzip\"; only chunked is accepted");
  // Two fields are one list.
  const auto two =
      check_request_header(header_with({{bhttp::field::transfer_encoding, "deflate"},
                                        {bhttp::field::transfer_encoding, "chunked"}}));
  ASSERT_TRUE(two);
  EXPECT_EQ(two->status, bhttp::status::not_implemented);
}

TEST(http_request_checks, framing_and_singleton_fields_must_be_unambiguous) {
  const auto reason = [](const request_header& h) {
    const auto r = check_request_header(h);
    return r ? r->reason : std::string();
  };
  EXPECT_EQ(reason(header_with({{bhttp::field::content_length, "5"},
                                {bhttp::field::transfer_encoding, "chunked"}})),
            "http: both Content-Length and Transfer-Encoding; send one");
  EXPECT_EQ(reason(header_with(
                {{bhttp::field::content_length, "5"}, {bhttp::field::content_length, "5"}})),
            "http: Content-Length header given more than once");
  EXPECT_EQ(reason(header_with({{bhttp::field::authorization, "Bearer a"},
                                {bhttp::field::authorization, "Bearer a"}})),
            "http: Authorization header given more than once");
  EXPECT_EQ(reason(header_with({{bhttp::field::host, "other"}})),
            "http: Host header given more than once");
  EXPECT_EQ(reason(header_with({{bhttp::field::transfer_encoding, "chunked"}}, 10)),
            "http: Transfer-Encoding in an HTTP/1.0 request");
  request_header no_host;
  no_host.version(11);
  EXPECT_EQ(reason(no_host), "http: an HTTP/1.1 request needs a Host header");
  no_host.version(10);
  EXPECT_EQ(reason(no_host), "");  // HTTP/1.0 has no Host requirement
  EXPECT_EQ(reason(header_with({{bhttp::field::content_length, "5"}})), "");
}

TEST(http_request_checks, the_raw_header_may_hold_no_fold_and_no_nul) {
  EXPECT_FALSE(check_header_block("GET / HTTP/1.1\r\nHost: a\r\nX: b c\r\n\r\n"));
  const auto fold = check_header_block("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n");
  ASSERT_TRUE(fold);
  EXPECT_NE(fold->reason.find("obs-fold"), std::string::npos) << fold->reason;
  EXPECT_TRUE(check_header_block("GET / HTTP/1.1\r\n\tHost: a\r\n\r\n"));
  const std::string nul = std::string("GET / HTTP/1.1\r\nHost: a") + '\0' + "\r\n\r\n";
  const auto refused = check_header_block(nul);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->reason, "http: a NUL byte in the request header");

  EXPECT_EQ(herald::http::header_block_end("GET / HTTP/1.1\r\nHost: a\r\n\r\nbody"), 27u);
  EXPECT_FALSE(herald::http::header_block_end("GET / HTTP/1.1\r\nHost: a\r\n"));
}

}  // namespace
