// `"format": "xml"` on the Altcraft-style routes (enqueue and tasks): a route's JSON handler,
// wrapped so that an XML request (Content-Type: application/xml or text/xml) is read into the
// JSON body the handler takes, and an XML request's reply, or any reply to a body asking
// "format": "xml", is written as the seed's XML. One validation path: the handler never sees XML.
#pragma once

#include "herald/api/xml.hpp"
#include "herald/http/router.hpp"

namespace herald::api {

// `handler`, speaking XML where the request asks for it. An XML document that cannot be read
// (xml_request_to_json's reasons: a DOCTYPE, too deep, not well-formed, ...) is answered 400 in
// XML; an XML request with <format>json</format> is answered in JSON.
http::route_handler speaking_xml(http::route_handler handler, xml_limits limits = {});

// Whether the request's Content-Type is application/xml or text/xml (parameters aside).
bool is_xml_request(const http::request& req);

// `res` (a JSON envelope) as XML, its Content-Type application/xml; charset=utf-8.
http::response as_xml_reply(http::response res);

}  // namespace herald::api
