#!/usr/bin/python3
"""Checks proto/openapi.yaml against itself and against a running heraldd.

  check.py examples             every media type has examples; each example validates against
                                its schema (JSON, form and parameter examples with
                                python3-jsonschema; an XML example is a well-formed <xml> whose
                                elements are members of the JSON schema beside it); every error
                                example is the envelope, every 413 exactly the body-limit reply
  check.py routes FILE          FILE: heraldd's routes, "METHOD PATH" a line; each is in the yaml,
                                and each operation of the yaml is served or in AWAITING_MERGE
  check.py live FILE BASE_URL   sends every request example of each served operation (FILE as
                                above) to heraldd with the bearer token in $HERALD_OPENAPI_TOKEN:
                                each is accepted (no 400, 401, 403, 405, 413 or 415), answered
                                with a status the yaml lists, and the reply validates against it
  check.py replies MANIFEST     MANIFEST: "METHOD<TAB>PATH<TAB>STATUS<TAB>CONTENT-TYPE<TAB>FILE"
                                lines; each reply body (in FILE) validates against the schema the
                                yaml gives that operation, status and media type (METHOD SCHEMA:
                                against the schema PATH, a $ref such as
                                #/components/schemas/ErrorEnvelope)

Prints each failure on a line of its own and exits 1 when there is any. Uses Debian's
python3-yaml and python3-jsonschema (deploy/install-deps.sh)."""
import copy
import json
import os
import pathlib
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

import jsonschema
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
SPEC_PATH = ROOT / "proto" / "openapi.yaml"

# Operations the yaml describes that heraldd does not answer yet: the routes being added on other
# branches. Each is removed from here when its branch is merged (a served one listed here fails).
AWAITING_MERGE = set()

# Served operations whose XML requests are not served yet (their XML examples are not sent).
AWAITING_XML = set()

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Statuses that mean "the request was refused as sent": an example must never get one.
REFUSALS = {400, 401, 403, 405, 413, 415}
ENVELOPE = {
    "type": "object",
    "required": ["error", "error_debug", "error_text"],
    "properties": {
        "error": {"type": "integer", "minimum": 400, "maximum": 599},
        "error_debug": {"type": "string", "minLength": 1},
        "error_text": {"type": "string", "minLength": 1},
    },
}
BODY_TOO_LARGE = {"error": 400, "error_debug": "http: request body too large",
                  "error_text": "Invalid request"}

failures = []


def fail(where, what):
    failures.append(f"{where}: {what}")


def load_spec():
    spec = yaml.safe_load(SPEC_PATH.read_text())
    store = {}
    for schema_file in (ROOT / "proto" / "schemas").glob("*.json"):
        doc = json.loads(schema_file.read_text())
        store[schema_file.as_uri()] = doc
        if "$id" in doc:
            store[doc["$id"]] = doc
    store[SPEC_PATH.as_uri()] = spec
    resolver = jsonschema.RefResolver(SPEC_PATH.as_uri(), spec, store=store)
    return spec, resolver


SPEC, RESOLVER = load_spec()


def deref(node):
    """A $ref'd object of the yaml (response, example, parameter...), followed to its target."""
    seen = 0
    while isinstance(node, dict) and "$ref" in node and node["$ref"].startswith("#/"):
        _, node = RESOLVER.resolve(node["$ref"])
        seen += 1
        if seen > 20:
            raise ValueError("a $ref loop")
    return node


def errors_of(schema, instance):
    validator = jsonschema.Draft202012Validator(schema, resolver=RESOLVER)
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in validator.iter_errors(instance)]


def member_names(schema, depth=0):
    """The member names an object of `schema` may have (through $ref, allOf, anyOf, oneOf)."""
    if depth > 20 or not isinstance(schema, dict):
        return set()
    names = set()
    if "$ref" in schema:
        with RESOLVER.resolving(schema["$ref"]) as target:
            names |= member_names(target, depth + 1)
    names |= set(schema.get("properties", {}))
    if isinstance(schema.get("const"), dict):
        names |= set(schema["const"])
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(key, []):
            names |= member_names(sub, depth + 1)
    return names


def operations():
    """(METHOD, path, operation) for each operation of the yaml."""
    for path, item in SPEC["paths"].items():
        for method in METHODS:
            if method in item:
                yield method.upper(), path, item[method]


def example_values(holder, where):
    """(name, value) of a media type's, parameter's or header's examples."""
    out = []
    if "example" in holder:
        out.append(("example", holder["example"]))
    for name, ex in (holder.get("examples") or {}).items():
        ex = deref(ex)
        if "value" in ex:
            out.append((name, ex["value"]))
        elif "externalValue" in ex:
            target = (SPEC_PATH.parent / ex["externalValue"]).resolve()
            if not target.is_file():
                fail(f"{where} example {name}", f"externalValue {ex['externalValue']}: no such file")
                continue
            text = target.read_text()
            out.append((name, json.loads(text) if target.suffix == ".json" else text))
        else:
            fail(f"{where} example {name}", "has neither value nor externalValue")
    return out


def check_xml(where, text, json_schema):
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        fail(where, f"not well-formed XML: {e}")
        return
    if root.tag != "xml":
        fail(where, f"the root element is <{root.tag}>, not <xml>")
    if json_schema is None:
        return
    names = member_names(json_schema)
    if not names:
        return
    for child in root:
        if child.tag not in names:
            fail(where, f"<{child.tag}> is not a member of the JSON reply or request beside it "
                        f"({', '.join(sorted(names))})")


def check_content(where, content, status=None):
    json_schema = None
    if "application/json" in content:
        json_schema = content["application/json"].get("schema")
    for media, obj in content.items():
        here = f"{where} {media}"
        examples = example_values(obj, here)
        if not examples:
            fail(here, "has no example")
        schema = obj.get("schema")
        for name, value in examples:
            at = f"{here} example {name}"
            if media == "application/xml":
                if not isinstance(value, str):
                    fail(at, "an XML example is a string")
                    continue
                check_xml(at, value, json_schema)
                continue
            if schema is not None:
                for e in errors_of(schema, value):
                    fail(at, e)
            if status is not None and status >= 400 and media == "application/json":
                for e in errors_of(ENVELOPE, value):
                    fail(at, f"not the error envelope: {e}")
                if status == 413 and value != BODY_TOO_LARGE:
                    fail(at, f"a 413 is exactly {json.dumps(BODY_TOO_LARGE)}")


def check_parameters(where, params):
    for p in params:
        p = deref(p)
        here = f"{where} parameter {p.get('in')} {p.get('name')}"
        for name, value in example_values(p, here):
            for e in errors_of(p.get("schema", {}), value):
                fail(f"{here} example {name}", e)


def check_examples():
    count = 0
    for method, path, op in operations():
        where = f"{method} {path}"
        check_parameters(where, SPEC["paths"][path].get("parameters", []) + op.get("parameters", []))
        body = deref(op.get("requestBody"))
        if body:
            check_content(f"{where} request", body.get("content", {}))
        responses = op.get("responses", {})
        if not any(s.startswith("2") for s in responses):
            fail(where, "no 2xx response")
        for status, response in responses.items():
            response = deref(response)
            if "content" not in response:
                fail(f"{where} {status}", "has no content (every reply has a body)")
                continue
            check_content(f"{where} {status}", response["content"], int(status))
            for hname, header in (response.get("headers") or {}).items():
                header = deref(header)
                for name, value in example_values(header, f"{where} {status} {hname}"):
                    for e in errors_of(header.get("schema", {}), value):
                        fail(f"{where} {status} header {hname} example {name}", e)
        count += 1
    return count


def normalized(path):
    return re.sub(r"\{[^}/]*\}", "{}", path)


def read_routes(file):
    routes = set()
    for line in pathlib.Path(file).read_text().splitlines():
        if line.strip():
            method, path = line.split(None, 1)
            routes.add((method.upper(), path.strip()))
    return routes


def check_routes(file):
    served = read_routes(file)
    if not served:
        fail(file, "lists no route")
    described = {(m, normalized(p)): (m, p) for m, p, _ in operations()}
    awaiting = {(m, normalized(p)) for m, p in AWAITING_MERGE}
    served_keys = {(m, normalized(p)) for m, p in served}
    for m, p in sorted(served):
        if (m, normalized(p)) not in described:
            fail("openapi.yaml", f"heraldd answers {m} {p}, which is not described")
    for key, (m, p) in sorted(described.items()):
        if key not in served_keys and key not in awaiting:
            fail("openapi.yaml", f"{m} {p} is described but heraldd does not answer it "
                                 "(nor is it in check.py's AWAITING_MERGE)")
    for m, p in sorted(AWAITING_MERGE):
        if (m, normalized(p)) in served_keys:
            fail("check.py", f"{m} {p} is served now: remove it from AWAITING_MERGE")
        if (m, normalized(p)) not in described:
            fail("check.py", f"AWAITING_MERGE lists {m} {p}, which openapi.yaml does not describe")
    return len(served)


def operation(method, path):
    item = SPEC["paths"].get(path)
    if item is None:
        for p, candidate in SPEC["paths"].items():
            if normalized(p) == normalized(path):
                item = candidate
    return (item or {}).get(method.lower())


def check_reply(where, op, status, content_type, body):
    """Validates one reply against the yaml; the failures, if any, are recorded."""
    responses = op.get("responses", {})
    response = responses.get(str(status)) or responses.get("default")
    if response is None:
        fail(where, f"status {status} is not among the operation's ({', '.join(responses)})")
        return
    content = deref(response).get("content", {})
    media = content_type.split(";")[0].strip().lower()
    if media not in content:
        fail(where, f"{status} with Content-Type {content_type or '(none)'}; the yaml gives "
                    f"{', '.join(content) or 'no body'}")
        return
    schema = content[media].get("schema")
    if media == "application/json":
        try:
            instance = json.loads(body)
        except ValueError as e:
            fail(where, f"the reply is not JSON: {e}")
            return
        for e in errors_of(schema, instance):
            fail(where, f"reply {status}: {e}: {body[:300]!r}")
    elif media == "application/xml":
        check_xml(where, body, content.get("application/json", {}).get("schema"))
    elif schema is not None:
        for e in errors_of(schema, body):
            fail(where, e)


def check_replies(manifest):
    base = pathlib.Path(manifest).parent
    count = 0
    for line in pathlib.Path(manifest).read_text().splitlines():
        if not line.strip():
            continue
        method, path, status, content_type, file = line.split("\t")
        where = f"{method} {path} -> {status}"
        count += 1
        if method == "SCHEMA":  # a reply no operation describes (an unknown path's 404)
            try:
                instance = json.loads((base / file).read_text())
            except ValueError as e:
                fail(where, f"the reply is not JSON: {e}")
                continue
            for e in errors_of({"$ref": path}, instance):
                fail(where, e)
            continue
        op = operation(method, path)
        if op is None:
            fail(where, "no such operation in openapi.yaml")
            continue
        check_reply(where, op, int(status), content_type, (base / file).read_text())
    return count


def query_of(params):
    """The query string of the parameters' examples (deepObject ones bracketed)."""
    pairs = []
    for p in params:
        p = deref(p)
        if p.get("in") != "query":
            continue
        values = example_values(p, p["name"])
        if not values:
            continue
        value = values[0][1]
        if p.get("style") == "deepObject" and isinstance(value, dict):
            for k, v in value.items():
                if isinstance(v, dict):
                    pairs += [(f"{p['name']}[{k}][{k2}]", str(v2)) for k2, v2 in v.items()]
                else:
                    pairs.append((f"{p['name']}[{k}]", str(v)))
        else:
            pairs.append((p["name"], str(value).lower() if isinstance(value, bool) else str(value)))
    return urllib.parse.urlencode(pairs)


def send(base_url, method, target, headers, data):
    req = urllib.request.Request(base_url + target, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            return res.status, res.headers.get("Content-Type", ""), res.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


def check_live(routes_file, base_url):
    token = os.environ.get("HERALD_OPENAPI_TOKEN", "")
    served = {(m, normalized(p)) for m, p in read_routes(routes_file)}
    sent = 0
    for method, path, op in operations():
        if (method, normalized(path)) not in served:
            continue
        params = SPEC["paths"][path].get("parameters", []) + op.get("parameters", [])
        target = path
        for p in map(deref, params):
            values = example_values(p, p["name"]) if p.get("in") == "path" else []
            if values:
                target = target.replace("{" + p["name"] + "}",
                                        urllib.parse.quote(str(values[0][1]), safe=""))
        if "{" in target:
            fail(f"{method} {path}", "a path parameter without an example")
            continue
        # A body goes without the optional query parameters: a route that takes its parameters
        # either way (the LeadConverter ones) refuses a key given in both.
        query = query_of(params)
        required_query = query_of([p for p in params if deref(p).get("required")])
        path_target = target
        target += "?" + query if query else ""
        headers = {"Authorization": "Bearer " + token} if token else {}
        requests = []
        body = deref(op.get("requestBody"))
        for media, obj in (body or {}).get("content", {}).items():
            if media == "application/xml" and (method, path) in AWAITING_XML:
                continue
            for name, value in example_values(obj, f"{method} {path}"):
                if media == "application/json":
                    data = json.dumps(value, ensure_ascii=False).encode()
                elif media == "application/x-www-form-urlencoded":
                    data = urllib.parse.urlencode(value).encode()
                else:
                    data = value.encode()
                requests.append((f"{media} example {name}", media, data))
        if not body or not body.get("required"):
            requests.append(("without a body", None, None))
        for label, media, data in requests:
            target = path_target
            q = query if data is None else required_query
            target += "?" + q if q else ""
            where = f"{method} {target} ({label})"
            h = dict(headers)
            if media:
                h["Content-Type"] = media
            status, content_type, reply = send(base_url, method, target, h, data)
            sent += 1
            print(f"  {where}: {status}")
            if status in REFUSALS:
                fail(where, f"refused: {status} {reply[:300]}")
            check_reply(where, op, status, content_type, reply)
    return sent


def main(argv):
    if len(argv) >= 1 and argv[0] == "examples" and len(argv) == 1:
        n = check_examples()
        what = f"{n} operations' examples"
    elif len(argv) == 2 and argv[0] == "routes":
        n = check_routes(argv[1])
        what = f"{n} served routes against openapi.yaml"
    elif len(argv) == 3 and argv[0] == "live":
        n = check_live(argv[1], argv[2].rstrip("/"))
        what = f"{n} example requests"
    elif len(argv) == 2 and argv[0] == "replies":
        n = check_replies(argv[1])
        what = f"{n} replies"
    else:
        sys.stderr.write(__doc__)
        return 2
    for f in failures:
        print(f)
    print(f"openapi: checked {what}: {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
