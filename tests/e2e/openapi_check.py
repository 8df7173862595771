# userapi: checks an answer of the service against assets/openapi.json: path, method, status, headers, JSON schema.
"""
The document is checked, not trusted: every answer a test receives can be
held against it.

    import openapi_check
    openapi_check.check("GET", "/users/me", 200, body, headers)
    openapi_check.check_response(resp)        # a requests.Response
    session.hooks["response"].append(openapi_check.hook)

check() finds the path template of the concrete path (concrete templates
before templated ones, as OpenAPI says), the operation of the method and
the documented response of the status, and raises Mismatch when any is
missing or when the body does not validate against the response's schema
(JSON Schema 2020-12, formats checked). With headers it also checks the
content type against the documented media types and every required
response header against its schema.

Three answers hold for every route and so are documented once, under
components/responses: an unknown path is NotFound (404); a known path with
a method it does not list is MethodNotAllowed (405), whose Allow header
must list exactly the methods the document has for that path; and Kore's
own protocol errors (ProtocolError: 400, 408, 411, 413, 414, 431, 505), which
have Kore's reason phrase as detail and no X-Request-ID (the service's own
errors always have one), may answer any request.

Works with python3-jsonschema 4.10 (Debian bookworm) and later: $refs are
resolved here, so the validators never need a resolver.
"""

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema

REPO = Path(__file__).resolve().parents[2]
DOC_PATH = REPO / "assets" / "openapi.json"

METHODS = ("get", "put", "post", "delete", "options", "head", "patch",
           "trace")
# Kore's own answers, before any route (components/responses/ProtocolError):
# the detail of each (Kore's reason phrase, patches/kore/0041).
PROTOCOL_DETAILS = {
    400: "Bad Request",
    408: "Request Time-out",
    411: "Length Required",
    413: "Request Entity Too Large",
    414: "Request-URI Too Large",
    431: "Request Header Fields Too Large",
    505: "HTTP Version not supported",
}
PROTOCOL_STATUSES = tuple(PROTOCOL_DETAILS)


class Mismatch(AssertionError):
    """An answer the document does not describe."""


def _media_base(ctype):
    return ctype.split(";", 1)[0].strip().lower()


def _is_json(media):
    media = _media_base(media)
    return media == "application/json" or media.endswith("+json")


class Document:
    """An OpenAPI document with its path templates compiled."""

    def __init__(self, doc):
        self.doc = doc
        self._resolved = {}
        self._validators = {}
        self.templates = []
        for template in doc.get("paths", {}):
            names = re.findall(r"\{([^}/]+)\}", template)
            pattern = "".join(
                "(?P<%s>[^/]*)" % part[1:-1] if part.startswith("{")
                else re.escape(part)
                for part in re.split(r"(\{[^}/]+\})", template) if part)
            self.templates.append((len(names), -len(template),
                                   template, re.compile(pattern + r"\Z")))
        # Concrete paths first, then the fewest parameters.
        self.templates.sort(key=lambda t: (t[0], t[1]))

    # --- references ---------------------------------------------------------

    def pointer(self, ref):
        """The node a local reference ("#/a/b") names."""
        if not ref.startswith("#/"):
            raise Mismatch("only local references are supported: %s" % ref)
        node = self.doc
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, list):
                node = node[int(part)]
            elif part in node:
                node = node[part]
            else:
                raise Mismatch("dangling reference %s" % ref)
        return node

    def resolve(self, node):
        """node with its $ref (if any) followed, once or more."""
        seen = 0
        while isinstance(node, dict) and "$ref" in node:
            node = self.pointer(node["$ref"])
            seen += 1
            if seen > 20:
                raise Mismatch("reference loop")
        return node

    def inline(self, schema, depth=0):
        """A copy of schema with every $ref replaced by its target (a $ref
        with sibling keywords becomes allOf: [target] plus the siblings)."""
        if depth > 50:
            raise Mismatch("schema nested too deep (a recursive $ref?)")
        if isinstance(schema, list):
            return [self.inline(s, depth + 1) for s in schema]
        if not isinstance(schema, dict):
            return schema
        if "$ref" in schema:
            ref = schema["$ref"]
            if ref not in self._resolved:
                self._resolved[ref] = self.inline(self.pointer(ref),
                                                  depth + 1)
            target = self._resolved[ref]
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            if not rest:
                return target
            out = self.inline(rest, depth + 1)
            out["allOf"] = [target] + out.get("allOf", [])
            return out
        out = {}
        for k, v in schema.items():
            # Values under these keys are names or data, not schemas.
            if k in ("enum", "const", "examples", "example", "default",
                     "required"):
                out[k] = v
            elif k == "properties":
                out[k] = {name: self.inline(s, depth + 1)
                          for name, s in v.items()}
            else:
                out[k] = self.inline(v, depth + 1)
        return out

    def validator(self, key, schema):
        """A cached 2020-12 validator of schema (refs inlined)."""
        v = self._validators.get(key)
        if v is None:
            v = jsonschema.Draft202012Validator(
                self.inline(schema),
                format_checker=jsonschema.FormatChecker())
            self._validators[key] = v
        return v

    # --- lookup -------------------------------------------------------------

    def template_for(self, path):
        """The path template that the concrete path falls under, or None."""
        for _, _, template, rx in self.templates:
            if rx.match(path):
                return template
        return None

    def methods_of(self, template):
        item = self.doc["paths"][template]
        return sorted(m.upper() for m in item if m in METHODS)

    def response_of(self, method, template, status):
        """(response object, where) for the documented status, or raise."""
        item = self.doc["paths"][template]
        op = item.get(method.lower())
        if op is None:
            raise Mismatch("%s %s is not in the document" % (method,
                                                            template))
        responses = op.get("responses", {})
        key = str(status)
        if key not in responses:
            raise Mismatch("%s %s answered %s, which the document does not "
                           "list (it has %s)" % (
                               method, template, status,
                               ", ".join(sorted(responses))))
        return (self.resolve(responses[key]),
                "%s %s %s" % (method, template, status))

    # --- checks -------------------------------------------------------------

    def check(self, method, path, status, body=None, headers=None,
              text=None):
        """
        Hold one answer against the document; raise Mismatch. body is the
        parsed JSON (None: no body, or not JSON); text the raw body when it
        is not JSON; headers (a mapping, keys in any case) is optional.
        Returns the path template (None for an unknown path).
        """
        method = method.upper()
        path = urlsplit(path).path
        hdrs = {k.lower(): v for k, v in (headers or {}).items()}
        template = self.template_for(path)

        # Kore's own: its reason phrase, and no X-Request-ID (the
        # service's own answers always carry one).
        if status in PROTOCOL_STATUSES and "x-request-id" not in hdrs and \
                body == {"detail": PROTOCOL_DETAILS[status]}:
            response = self.resolve(
                self.doc["components"]["responses"]["ProtocolError"])
            self._check_body(method, response, body, text, hdrs, headers,
                             "%s %s %s (Kore)" % (method, path, status))
            return template
        if template is None:
            if status != 404:
                raise Mismatch("%s %s answered %s: no path of the document "
                               "matches" % (method, path, status))
            response, where = (self.resolve(
                self.doc["components"]["responses"]["NotFound"]),
                "%s %s (unknown path)" % (method, path))
        elif method.lower() not in self.doc["paths"][template]:
            if status != 405:
                raise Mismatch("%s %s answered %s: %s has no %s in the "
                               "document" % (method, path, status, template,
                                             method))
            response, where = (self.resolve(
                self.doc["components"]["responses"]["MethodNotAllowed"]),
                "%s %s (not a method of %s)" % (method, path, template))
            if headers is not None:
                allow = sorted(m.strip().upper()
                               for m in hdrs.get("allow", "").split(",")
                               if m.strip())
                if allow != self.methods_of(template):
                    raise Mismatch("%s: Allow is %r, the document has %s" % (
                        where, hdrs.get("allow"),
                        ", ".join(self.methods_of(template))))
        else:
            response, where = self.response_of(method, template, status)

        if headers is not None:
            self._check_headers(response, hdrs, where)
        self._check_body(method, response, body, text, hdrs, headers,
                         where)
        return template

    def _check_headers(self, response, hdrs, where):
        for name, spec in response.get("headers", {}).items():
            spec = self.resolve(spec)
            value = hdrs.get(name.lower())
            if value is None:
                if spec.get("required"):
                    raise Mismatch("%s: header %s is missing" % (where,
                                                                 name))
                continue
            if "schema" in spec:
                v = self.validator(("header", where, name), spec["schema"])
                err = jsonschema.exceptions.best_match(v.iter_errors(value))
                if err is not None:
                    raise Mismatch("%s: header %s: %r: %s" % (
                        where, name, value, err.message))

    def _check_body(self, method, response, body, text, hdrs, headers,
                    where):
        content = response.get("content")
        has_body = body is not None or bool(text)

        if method == "HEAD" or not content:
            if has_body:
                raise Mismatch("%s: the document says no body, got %r" % (
                    where, body if body is not None else text[:200]))
            return
        if not has_body:
            raise Mismatch("%s: the document has a body (%s), got none" % (
                where, ", ".join(content)))

        media = None
        if headers is not None:
            ctype = hdrs.get("content-type")
            if ctype is None:
                raise Mismatch("%s: no Content-Type" % where)
            for m in content:
                if _media_base(m) == _media_base(ctype):
                    media = m
            if media is None:
                raise Mismatch("%s: Content-Type %s, the document has %s" % (
                    where, ctype, ", ".join(content)))
        else:
            media = next((m for m in content if _is_json(m)), None)
            if media is None:
                return

        if not _is_json(media):
            if body is not None:
                raise Mismatch("%s: %s expected, got JSON" % (where, media))
            return
        if body is None:
            raise Mismatch("%s: the body is not JSON: %r" % (
                where, (text or "")[:200]))
        schema = content[media].get("schema")
        if schema is None:
            return
        v = self.validator(("body", where, media), schema)
        err = jsonschema.exceptions.best_match(v.iter_errors(body))
        if err is not None:
            raise Mismatch("%s: the body does not match the document at %s: "
                           "%s\nbody: %s" % (
                               where, "/".join(str(p) for p in err.absolute_path)
                               or "(top)", err.message,
                               json.dumps(body)[:1000]))

    def check_response(self, resp):
        """check() for a requests.Response; returns the template."""
        method = resp.request.method
        path = urlsplit(resp.request.url).path
        ctype = resp.headers.get("Content-Type", "")
        body = text = None
        if resp.content:
            if _is_json(ctype):
                try:
                    body = json.loads(resp.content)
                except ValueError as e:
                    raise Mismatch("%s %s answered %s with invalid JSON: %s"
                                   % (method, path, resp.status_code,
                                      e)) from None
            else:
                text = resp.content.decode("utf-8", errors="replace")
        return self.check(method, path, resp.status_code, body=body,
                          headers=resp.headers, text=text)


_document = None


def document():
    """The repository's document, loaded once."""
    global _document
    if _document is None:
        with open(DOC_PATH, encoding="utf-8") as f:
            _document = Document(json.load(f))
    return _document


def check(method, path, status, body=None, headers=None, text=None):
    """Hold one answer against assets/openapi.json; raise Mismatch."""
    return document().check(method, path, status, body=body,
                            headers=headers, text=text)


def check_response(resp):
    """check() for a requests.Response."""
    return document().check_response(resp)


def hook(resp, *args, **kwargs):
    """A requests response hook: every answer of the session is checked."""
    document().check_response(resp)
    return resp
