# userapi: assets/openapi.json is checked, not trusted: valid OpenAPI 3.1, the same routes as the service, every answer it describes.

import json
import re
import time
import uuid
from pathlib import Path

import jsonschema
import pytest
import requests

import openapi_check
import route_table
from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, free_port

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "conf" / "userapi.conf"
DOC = openapi_check.document()
METHODS = openapi_check.METHODS
PROTOCOL_ERROR = "#/components/responses/ProtocolError"
METHOD_NOT_ALLOWED = "#/components/responses/MethodNotAllowed"


# --- the document itself -----------------------------------------------------

def walk(node, where="#"):
    """Every (pointer, dict) in the document."""
    if isinstance(node, dict):
        yield where, node
        for k, v in node.items():
            yield from walk(v, "%s/%s" % (where, k.replace("~", "~0")
                                          .replace("/", "~1")))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, "%s/%d" % (where, i))


def operations():
    """(template, method, operation) for every operation."""
    for template, item in DOC.doc["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield template, method, op


def schemas():
    """(pointer, schema) for every schema of the document (not nested)."""
    for name, s in DOC.doc["components"]["schemas"].items():
        yield "#/components/schemas/" + name, s
    for where, node in walk(DOC.doc):
        if "/components/schemas/" in where:
            continue
        if "schema" in node and isinstance(node["schema"], dict):
            yield where + "/schema", node["schema"]


def test_document_basics():
    doc = DOC.doc
    assert doc["openapi"] == "3.1.0"
    version = re.search(r'#define\s+USERAPI_VERSION\s+"([^"]+)"',
                        (REPO / "src" / "version.h").read_text()).group(1)
    assert doc["info"]["version"] == version
    assert doc["info"]["title"] == "userapi"
    assert doc["servers"] == [{"url": "/", "description": "This service"}]
    scheme = doc["components"]["securitySchemes"]["OAuth2PasswordBearer"]
    assert scheme["type"] == "oauth2"
    assert scheme["flows"] == {"password": {"tokenUrl": "/token",
                                            "scopes": {}}}
    # The JSON in the repository is the one served: it parses strictly.
    json.loads((REPO / "assets" / "openapi.json").read_text(),
               object_pairs_hook=no_duplicate_keys)


def test_documents_name_the_repositorys_licence():
    """The OpenAPI and AsyncAPI documents say what the repository's
    LICENSE file says: no licence while there is none (naming one would be
    false), else the same one in both, named in the file."""
    docs = [json.loads((REPO / "assets" / name).read_text())["info"]
            for name in ("openapi.json", "asyncapi.json")]
    licences = [info.get("license") for info in docs]
    files = [p for p in REPO.iterdir() if p.name.upper().startswith(
        ("LICENSE", "LICENCE", "COPYING"))]
    if not files:
        assert licences == [None, None], licences
        return
    assert licences[0] is not None and licences[0] == licences[1], licences
    text = " ".join(p.read_text() for p in files)
    assert licences[0]["name"] in text or \
        licences[0].get("identifier", "\0") in text, licences[0]


def no_duplicate_keys(pairs):
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), "duplicate keys: %s" % keys
    return dict(pairs)


@pytest.mark.parametrize("where, schema", list(schemas()),
                         ids=lambda x: x if isinstance(x, str) else "")
def test_schema_is_valid_json_schema_2020_12(where, schema):
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator.check_schema(DOC.inline(schema))


def test_every_schema_is_typed():
    """A const or enum says its type too: tools that read only "type"
    (ReDoc, generators) would show "any" otherwise."""
    untyped = [where for where, node in walk(DOC.doc)
               if ("const" in node or "enum" in node) and "type" not in node
               and "in" not in node and "/examples/" not in where
               and "/example/" not in where]
    assert not untyped, untyped


def test_every_reference_resolves():
    refs = [(w, n["$ref"]) for w, n in walk(DOC.doc) if "$ref" in n]
    assert refs
    for where, ref in refs:
        DOC.pointer(ref)		# raises on a dangling one


def test_every_component_is_used():
    used = {n["$ref"] for _, n in walk(DOC.doc) if "$ref" in n}
    for kind in ("schemas", "responses", "parameters", "headers"):
        for name in DOC.doc["components"][kind]:
            ref = "#/components/%s/%s" % (kind, name)
            # Answers of every route: documented once, used by the checker.
            if ref == "#/components/responses/NotFound":
                continue
            assert ref in used, "%s is never used" % ref


def test_examples_match_their_schemas():
    checked = 0
    for where, node in walk(DOC.doc):
        schema = node.get("schema") if isinstance(node.get("schema"),
                                                  dict) else None
        if schema is not None and "example" in node and \
                "/application/x-www-form-urlencoded" not in where:
            v = DOC.validator(("example", where), schema)
            errs = list(v.iter_errors(node["example"]))
            assert not errs, "%s: %s" % (where, errs[0].message)
            checked += 1
        if "examples" in node and isinstance(node["examples"], list) and \
                ("type" in node or "allOf" in node):
            v = DOC.validator(("examples", where), node)
            for ex in node["examples"]:
                errs = list(v.iter_errors(ex))
                assert not errs, "%s: %s" % (where, errs[0].message)
                checked += 1
    assert checked > 20


def test_operations_are_complete():
    ids = []
    for template, method, op in operations():
        where = "%s %s" % (method.upper(), template)
        ids.append(op["operationId"])
        assert op.get("summary"), where
        assert op.get("tags") and all(
            t in {x["name"] for x in DOC.doc["tags"]} for t in op["tags"]), where
        assert op["responses"], where
        for status, resp in op["responses"].items():
            assert DOC.resolve(resp)["description"], (where, status)
            # Kore's protocol errors (empty bodies) are every operation's
            # default; everything else has its own status.
            if status == "default":
                assert resp == {"$ref": PROTOCOL_ERROR}, where
                continue
            assert re.match(r"^[1-5][0-9][0-9]$", status), (where, status)
            # Every answer of the service carries X-Request-ID.
            hdr = DOC.resolve(resp).get("headers", {}).get("X-Request-ID")
            assert hdr == {"$ref": "#/components/headers/RequestId"}, (
                where, status)
        assert "default" in op["responses"], where
        # Tools see the 405 (+ Allow) of every operation and the rate
        # limit's headers on each 429, and each operation declares its
        # security.
        assert op["responses"]["405"] == {"$ref": METHOD_NOT_ALLOWED}, where
        if "429" in op["responses"]:
            r429 = DOC.resolve(op["responses"]["429"])
            assert "Retry-After" in r429["headers"], where
        assert "security" in op, where
        # Path parameters: declared exactly once each, and required.
        params = [DOC.resolve(p) for p in
                  DOC.doc["paths"][template].get("parameters", []) +
                  op.get("parameters", [])]
        names = sorted(p["name"] for p in params if p["in"] == "path")
        assert names == sorted(re.findall(r"\{([^}]+)\}", template)), where
        assert all(p["required"] for p in params if p["in"] == "path")
        # What the service always does, the document always says.
        if op.get("security"):
            assert op["security"] == [{"OAuth2PasswordBearer": []}], where
            r401 = DOC.resolve(op["responses"]["401"])
            assert "WWW-Authenticate" in r401["headers"], where
        body = op.get("requestBody")
        if body and any(openapi_check._is_json(m) for m in body["content"]):
            for status in ("413", "415", "422"):
                assert status in op["responses"], (where, status)
        for status in ("500", "503", "504"):
            if op["tags"] in (["users"], ["auth"]):
                assert status in op["responses"], (where, status)
    assert len(ids) == len(set(ids)), "operationIds must be unique"


# --- the route table and the document agree ------------------------------------

def table_routes():
    """The table paths of src/api/routes.c, in order."""
    paths = []
    for r in route_table.routes():
        if r.path not in paths:
            paths.append(r.path)
    return paths


def sample_paths(template):
    """Concrete paths of a template: each path parameter's example, enum
    values and default."""
    item = DOC.doc["paths"][template]
    params = {}
    for p in item.get("parameters", []) + [
            p for m in METHODS if m in item
            for p in item[m].get("parameters", [])]:
        p = DOC.resolve(p)
        if p["in"] != "path":
            continue
        values = list(p["schema"].get("enum", []))
        if "example" in p:
            values.append(p["example"])
        assert values, "%s: path parameter %s has no example" % (
            template, p["name"])
        params[p["name"]] = values
    paths = [template]
    for name, values in params.items():
        paths = [t.replace("{%s}" % name, str(v)) for t in paths
                 for v in values]
    return paths


def test_route_table_and_document_have_the_same_routes():
    routes = table_routes()
    table = route_table.routes()
    hit = set()
    for template in DOC.doc["paths"]:
        for path in sample_paths(template):
            pattern, rows = route_table.match(path, table)
            assert pattern is not None, (
                "%s (%s) is in the document, the route table has no route "
                "for it" % (template, path))
            assert sorted(DOC.methods_of(template)) == sorted(
                {m for r in rows for m in r.methods}), (template, rows)
            hit.add(pattern)
    missing = [r for r in routes if r not in hit]
    assert not missing, "routes of src/api/routes.c the document lacks: %s" \
        % missing


def test_route_table_reads_the_documents_query_parameters():
    """Each row lists the query parameters its operations document: the
    dispatcher refuses a repeat of exactly those (422)."""
    table = route_table.routes()
    checked = 0
    for template, method, op in operations():
        _, rows = route_table.match(sample_paths(template)[0], table)
        row = [r for r in rows if method.upper() in r.methods][0]
        params = [DOC.resolve(p) for p in
                  DOC.doc["paths"][template].get("parameters", []) +
                  op.get("parameters", [])]
        names = sorted(p["name"] for p in params if p["in"] == "query")
        assert sorted(row.query) == names, (method, template, row.query)
        if names:
            assert "422" in op["responses"], (method, template)
            checked += 1
    assert checked >= 5


def test_conf_sends_every_path_to_the_dispatcher():
    """The domain is made in src/main.c (main_bind, from BIND and the TLS
    settings) with one route; conf/userapi.conf has none."""
    lines = [line.split("#", 1)[0] for line in CONF.read_text().splitlines()]
    assert not [line for line in lines
                if re.match(r"^\s*(route|domain|server)\s", line)], lines
    main = (REPO / "src" / "main.c").read_text()
    routes = re.findall(r'\\troute\s+(\S+)\s+(\S+?)\\n', main)
    assert routes == [("^/", "api_dispatch")], routes


def test_static_names_are_the_handlers_table():
    """/static/{name}'s enum lists exactly the files src/api/assets.c has."""
    src = (REPO / "src" / "api" / "assets.c").read_text()
    table = re.findall(r'ASSET\("/static/([^"]+)"', src)
    pages = re.findall(r'ASSET\("(/[^"]*)"', src)
    assert table
    param = [p for p in DOC.doc["paths"]["/static/{name}"]["get"]
             ["parameters"] if DOC.resolve(p)["name"] == "name"][0]
    assert sorted(param["schema"]["enum"]) == sorted(table)
    documented = {t for t in DOC.doc["paths"] if "{" not in t}
    for page in pages:
        if not page.startswith("/static/"):
            assert page in documented, page


def probe_paths():
    for template in DOC.doc["paths"]:
        yield template, sample_paths(template)[0]


@pytest.mark.parametrize("template, path", list(probe_paths()),
                         ids=[t for t, _ in probe_paths()])
def test_methods_of_each_path_are_the_documents(base_url, template, path):
    """OPTIONS is in no path of the document: the handler's 405 says which
    methods it has (Allow), and those must be the document's. Then each
    documented method, sent bare, must reach its handler (not 405) and
    get an answer the document lists."""
    r = requests.options(base_url + path, timeout=10)
    assert r.status_code == 405, (path, r.status_code)
    openapi_check.check_response(r)		# Allow == documented methods
    for method in DOC.methods_of(template):
        r = requests.request(method, base_url + path, data=b"", timeout=30)
        assert r.status_code != 405, (method, path)
        assert openapi_check.check_response(r) == template


def test_unknown_paths_are_the_documented_404(base_url):
    for path in ("/nope", "/users/me/nope", "/users/x/y", "/tokens",
                 "/token/", "/healthz/x"):
        r = requests.get(base_url + path, timeout=10)
        assert r.status_code == 404
        assert openapi_check.check_response(r) is None


# --- the checker can fail ---------------------------------------------------------

USER = {"id": "0193a6c4-5b1e-7c2a-9f3d-2a4b6c8d0e1f", "name": "A",
        "email": "a@example.com", "age": None, "is_active": True,
        "is_admin": False, "created_at": "2026-11-24T10:21:00.123456Z",
        "updated_at": "2026-11-24T10:21:00.123456Z"}
JSON_H = {"Content-Type": "application/json; charset=utf-8", "ETag": '"1"',
          "X-Request-ID": "r1"}


def test_checker_accepts_what_the_document_says():
    assert openapi_check.check("GET", "/users/me", 200, USER,
                               JSON_H) == "/users/me"
    assert openapi_check.check("GET", "/users/%s" % USER["id"], 200,
                               USER) == "/users/{user_id}"
    assert openapi_check.check("DELETE", "/users/x", 204) == \
        "/users/{user_id}"
    assert openapi_check.check("GET", "/users?skip=1", 200, [USER]) == "/users"


@pytest.mark.parametrize("args, why", [
    (("GET", "/users/me", 200, dict(USER, password_hash="x")),
     "'password_hash' was unexpected"),
    (("GET", "/users/me", 200, dict(USER, id="not-a-uuid")), "does not match"),
    (("GET", "/users/me", 200, dict(USER, age="30")), "not of type"),
    (("GET", "/users/me", 200, dict(USER, created_at="2026-11-24T10:21:00Z")),
     "does not match"),
    (("GET", "/users/me", 200, {k: v for k, v in USER.items() if k != "name"}),
     "required"),
    (("GET", "/users/me", 418, {"detail": "teapot"}), "does not list"),
    (("GET", "/users/me", 404, {"detail": "User not found"}), "does not list"),
    (("GET", "/users/me", 401, {"detail": "Who are you"}), "is not one of"),
    (("GET", "/users/me", 401, {"detail": "Invalid token", "x": 1}),
     "'x' was unexpected"),
    (("POST", "/users", 422, {"detail": []}), "match the document at detail"),
    (("POST", "/users", 422, {"detail": [{"type": "missing",
                                          "loc": ["body", 1.5],
                                          "msg": "x"}]}), "is not of type"),
    (("DELETE", "/users/x", 204, {"detail": "x"}), "no body"),
    (("GET", "/users/me", 200, None), "got none"),
    (("GET", "/nope", 200, {}), "no path of the document"),
    (("PUT", "/users/me", 200, USER), "has no PUT"),
    (("POST", "/healthz", 404, {"detail": "Not Found"}), "has no POST"),
    (("GET", "/readyz", 503, {"status": "unavailable"}), "required"),
    (("POST", "/token", 200, {"access_token": "a.b.c", "token_type": "Bearer",
                              "expires_in": 1800}), "was expected"),
])
def test_checker_refuses_what_the_document_does_not_say(args, why):
    with pytest.raises(openapi_check.Mismatch) as e:
        openapi_check.check(*args)
    assert why in str(e.value), str(e.value)


@pytest.mark.parametrize("status, body, headers, why", [
    (200, USER, {"Content-Type": "application/json", "ETag": '"1"'},
     "X-Request-ID is missing"),
    (200, USER, {"Content-Type": "application/json", "ETag": '"1"',
                 "X-Request-ID": "a b"}, "header X-Request-ID"),
    (200, USER, {"Content-Type": "application/json"}, "ETag is missing"),
    (200, USER, {"Content-Type": "text/html", "ETag": '"1"'}, "Content-Type"),
    (200, USER, {"Content-Type": "application/json", "ETag": 'W/"1"'},
     "header ETag"),
    (401, {"detail": "Invalid token"}, {"Content-Type": "application/json"},
     "WWW-Authenticate is missing"),
    (401, {"detail": "Invalid token"}, {"Content-Type": "application/json",
                                        "WWW-Authenticate": "Basic"},
     "header WWW-Authenticate"),
    (503, {"detail": "Service Unavailable"},
     {"Content-Type": "application/json"}, "Retry-After is missing"),
])
def test_checker_checks_headers(status, body, headers, why):
    headers = dict(headers)
    if "X-Request-ID" not in why:
        headers["X-Request-ID"] = "r1"
    with pytest.raises(openapi_check.Mismatch) as e:
        openapi_check.check("GET", "/users/me", status, body, headers)
    assert why in str(e.value), str(e.value)


def test_checker_knows_kores_protocol_errors():
    assert openapi_check.check("GET", "/healthz", 400,
                               {"detail": "Bad Request"}) == "/healthz"
    assert openapi_check.check("POST", "/nope", 411,
                               {"detail": "Length Required"}) is None
    openapi_check.check("POST", "/users", 413,
                        {"detail": "Request Entity Too Large"},
                        {"Content-Type": "application/json; charset=utf-8"})
    # The service's own 413 has its own detail; an empty answer or another
    # detail is not Kore's, and /healthz has no 400 of its own.
    openapi_check.check("POST", "/users", 413,
                        {"detail": "Request body too large"})
    with pytest.raises(openapi_check.Mismatch):
        openapi_check.check("GET", "/healthz", 400, {"detail": "x"})
    with pytest.raises(openapi_check.Mismatch):
        openapi_check.check("GET", "/healthz", 400)
    with pytest.raises(openapi_check.Mismatch, match="does not list"):
        openapi_check.check("GET", "/healthz", 500)


def test_checker_checks_allow_of_405():
    ok = {"Content-Type": "application/json",
          "Allow": "GET, HEAD, PUT, PATCH, DELETE",
          "X-Request-ID": "r1"}
    body = {"detail": "Method Not Allowed"}
    openapi_check.check("POST", "/users/x", 405, body, ok)
    with pytest.raises(openapi_check.Mismatch, match="Allow"):
        openapi_check.check("POST", "/users/x", 405, body,
                            dict(ok, Allow="GET, PUT"))
    openapi_check.check("PUT", "/users", 405, body,
                        dict(ok, Allow="POST, GET, HEAD"))
    with pytest.raises(openapi_check.Mismatch, match="Allow"):
        openapi_check.check("PUT", "/users", 405, body, ok)
    with pytest.raises(openapi_check.Mismatch, match="has no PUT"):
        openapi_check.check("PUT", "/users", 200, body, ok)


# --- every answer the service gives is in the document -----------------------

class Client:
    """Requests whose every answer is held against the document and
    whose status is the one the test expects."""

    def __init__(self, url):
        self.url = url
        self.s = requests.Session()
        self.seen = set()

    def __call__(self, status, method, path, token=None, **kw):
        headers = dict(kw.pop("headers", {}))
        if token:
            headers["Authorization"] = "Bearer " + token
        kw.setdefault("timeout", 30)
        r = self.s.request(method, self.url + path, headers=headers, **kw)
        assert r.status_code == status, (method, path, r.status_code, r.text)
        template = openapi_check.check_response(r)
        self.seen.add((method, template, status))
        return r

    def login(self, email, password):
        r = self(200, "POST", "/token",
                 data={"username": email, "password": password})
        return r.json()["access_token"]


def test_every_route_answers_as_documented(extra):
    # Nobody listens at SMTP_URL: a job fails its two attempts quickly.
    svc = extra.service(extra.database(), admin=True, BODY_LIMIT=4096,
                        SMTP_URL="smtp://127.0.0.1:%d" % free_port(),
                        JOB_MAX_ATTEMPTS=2)
    c = Client(svc.url)
    admin = c.login(ADMIN_EMAIL, ADMIN_PASSWORD)

    # health, pages
    for method in ("GET", "HEAD"):
        c(200, method, "/healthz")
        c(200, method, "/readyz")
        c(200, method, "/metrics")
    for path in ("/", "/docs", "/redoc", "/conventions", "/openapi.json",
                 "/asyncapi.json",
                 "/static/demo.js"):
        etag = c(200, "GET", path).headers["ETag"]
        c(200, "HEAD", path)
        c(304, "GET", path, headers={"If-None-Match": etag})
        c(304, "HEAD", path, headers={"If-None-Match": etag})
    c(404, "GET", "/static/nope.js")
    c(404, "HEAD", "/static/nope.js")

    # sign-up
    email = "conf-%s@example.com" % uuid.uuid4().hex[:12]
    r = c(201, "POST", "/users", json={"name": "Conformance", "email": email,
                                       "age": 40, "password": "password-1"})
    uid = r.json()["id"]
    c(409, "POST", "/users", json={"name": "Again", "email": email})
    c(422, "POST", "/users", json={"email": "x", "age": "1", "extra": 1})
    c(422, "POST", "/users", data=b'{"name": "x",', headers={
        "Content-Type": "application/json"})
    c(422, "POST", "/users", data=b"", headers={
        "Content-Type": "application/json"})
    c(415, "POST", "/users", data=b"name=x", headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    c(413, "POST", "/users", data=b" " * 5000, headers={
        "Content-Type": "application/json"})
    other = c(201, "POST", "/users", json={
        "name": "Other", "email": "other-" + email}).json()["id"]

    # tokens
    token = c.login(email, "password-1")
    c(401, "POST", "/token", data={"username": email, "password": "wrong-pw"})
    c(400, "POST", "/token", data={"grant_type": "client_credentials",
                                   "username": email, "password": "x"})
    c(422, "POST", "/token", data={"grant_type": "password"})
    c(415, "POST", "/token", json={"username": email, "password": "x"})
    c(413, "POST", "/token", data={"username": "x" * 9000, "password": "x"})
    locked = "locked-%s@example.com" % uuid.uuid4().hex[:12]
    for _ in range(5):
        c(401, "POST", "/token", data={"username": locked, "password": "x"})
    r = c(429, "POST", "/token", data={"username": locked, "password": "x"})
    assert int(r.headers["Retry-After"]) > 0

    # who am I
    c(200, "GET", "/protected", token)
    c(200, "HEAD", "/protected", token)
    c(401, "GET", "/protected")
    c(401, "HEAD", "/protected")
    c(401, "GET", "/protected", "not.a.token")
    etag = c(200, "GET", "/users/me", token).headers["ETag"]
    c(401, "GET", "/users/me")
    c(200, "HEAD", "/users/me", token)

    # one user
    c(200, "GET", "/users/" + uid, token)
    c(200, "HEAD", "/users/" + uid, token)
    c(404, "HEAD", "/users/" + other, token)
    c(412, "HEAD", "/users/" + uid, token, headers={"If-Match": '"0"'})
    c(200, "GET", "/users/" + uid.replace("-", "").upper(), token)
    c(404, "GET", "/users/" + other, token)
    c(422, "GET", "/users/not-a-uuid", token)
    c(412, "GET", "/users/" + uid, token, headers={"If-Match": 'W/"1"'})
    c(401, "GET", "/users/" + uid)
    r = c(200, "PUT", "/users/" + uid, token, headers={"If-Match": etag},
          json={"name": "Replaced", "email": email})
    assert r.json()["age"] is None
    c(412, "PUT", "/users/" + uid, token, headers={"If-Match": etag},
      json={"name": "Stale", "email": email})
    c(409, "PUT", "/users/" + uid, token,
      json={"name": "Dup", "email": "other-" + email})
    c(422, "PUT", "/users/" + uid, token, json={"name": "x",
                                                 "password": "password-2"})
    c(415, "PUT", "/users/" + uid, token, data=b"x", headers={
        "Content-Type": "text/plain"})
    c(413, "PUT", "/users/" + uid, token, data=b" " * 5000, headers={
        "Content-Type": "application/json"})
    c(404, "PUT", "/users/" + other, token, json={"name": "x",
                                                   "email": "y@example.com"})
    c(200, "PATCH", "/users/" + uid, token, json={"age": 41})
    c(200, "PATCH", "/users/" + uid, token, data=b'{"age": null}', headers={
        "Content-Type": "application/merge-patch+json"})
    c(403, "PATCH", "/users/" + uid, token, json={"is_admin": True})
    c(422, "PATCH", "/users/" + uid, token, json={"age": 151})
    c(412, "PATCH", "/users/" + uid, admin, json={"age": 1},
      headers={"If-Match": '"999999"'})
    c(404, "PATCH", "/users/" + other, token, json={"age": 1})
    c(409, "PATCH", "/users/" + uid, token, json={"email": "other-" + email})
    c(415, "PATCH", "/users/" + uid, token, data=b"age=1", headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    c(413, "PATCH", "/users/" + uid, token, data=b" " * 5000, headers={
        "Content-Type": "application/json"})

    # the WebSocket upgrade (its frames: tests/e2e/test_ws.py)
    upgrade = {"Upgrade": "websocket", "Connection": "Upgrade",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
               "Sec-WebSocket-Version": "13"}
    c(401, "GET", "/ws", headers=upgrade)
    c(400, "GET", "/ws", token)
    c(400, "GET", "/ws?last_id=x", token, headers=upgrade)
    with requests.Session() as s:	# the socket is a WebSocket afterwards
        r = s.get(svc.url + "/ws", timeout=30,
                  headers=dict(upgrade, Authorization="Bearer " + token))
        assert r.status_code == 101, r.text
        c.seen.add(("GET", openapi_check.check_response(r), 101))

    # lists (admin)
    r = c(200, "GET", "/users", admin, params={"limit": 100})
    assert {uid, other} <= {u["id"] for u in r.json()}
    c(200, "GET", "/users", admin, params={"email": email.upper()})
    c(403, "GET", "/users", token)
    c(401, "GET", "/users")
    c(422, "GET", "/users", admin, params={"skip": -1, "limit": "x"})
    c(200, "HEAD", "/users", admin)
    c(401, "HEAD", "/users")
    c(422, "HEAD", "/users", admin, params={"limit": 0})
    c(200, "PATCH", "/users/" + other, admin, json={"is_active": True})

    # notification jobs
    r = c(202, "POST", "/users/%s/notify" % uid, token)
    job = r.json()["job_id"]
    assert r.headers["Location"] == "/jobs/" + job
    c(202, "POST", "/users/%s/notify" % uid, admin,
      json={"subject": "Hi", "message": "Text"})
    c(404, "POST", "/users/%s/notify" % other, token)
    c(401, "POST", "/users/%s/notify" % uid)
    c(422, "POST", "/users/x/notify", token, json={"subject": ""})
    c(415, "POST", "/users/%s/notify" % uid, token, data=b"x", headers={
        "Content-Type": "text/plain"})
    c(413, "POST", "/users/%s/notify" % uid, token, data=b" " * 5000,
      headers={"Content-Type": "application/json"})
    c(200, "GET", "/jobs/" + job, token)
    c(200, "HEAD", "/jobs/" + job, token)
    c(404, "GET", "/jobs/" + str(uuid.uuid4()), token)
    c(422, "GET", "/jobs/x", token)
    c(401, "GET", "/jobs/" + job)
    c(200, "GET", "/jobs", admin, params={"status": "queued", "limit": 5})
    c(403, "GET", "/jobs", token)
    c(200, "HEAD", "/jobs", admin)
    c(401, "GET", "/jobs")
    c(422, "GET", "/jobs", admin, params={"status": "lost", "skip": -1})
    deadline = time.monotonic() + 30
    while c(200, "GET", "/jobs/" + job, admin).json()["status"] != "failed":
        assert time.monotonic() < deadline, "the job never failed"
        time.sleep(0.1)
    c(403, "POST", "/jobs/%s/retry" % job, token)
    c(200, "POST", "/jobs/%s/retry" % job, admin)
    c(409, "POST", "/jobs/%s/retry" % job, admin)	# queued or running
    c(404, "POST", "/jobs/%s/retry" % uuid.uuid4(), admin)
    c(422, "POST", "/jobs/x/retry", admin)
    c(401, "POST", "/jobs/%s/retry" % job)

    # password
    c(422, "POST", "/users/me/password", token, json={"new_password": "s"})
    c(415, "POST", "/users/me/password", token, data=b"x", headers={
        "Content-Type": "text/plain"})
    c(413, "POST", "/users/me/password", token, data=b" " * 5000, headers={
        "Content-Type": "application/json"})
    c(400, "POST", "/users/me/password", token,
      json={"current_password": "wrong-pass", "new_password": "password-2"})
    c(204, "POST", "/users/me/password", token,
      json={"current_password": "password-1", "new_password": "password-2"})
    c(401, "GET", "/users/me", token)		# retired
    c(401, "POST", "/users/me/password",
      json={"current_password": "x", "new_password": "password-3"})
    token = c.login(email, "password-2")

    # delete
    c(412, "DELETE", "/users/" + uid, token, headers={"If-Match": '"999999"'})
    c(404, "DELETE", "/users/" + other, token)
    c(422, "DELETE", "/users/x", token)
    c(401, "DELETE", "/users/" + uid)
    c(204, "DELETE", "/users/" + uid, token)
    c(401, "DELETE", "/users/" + uid, token)		# its token went with it
    c(204, "DELETE", "/users/" + other, admin)
    c(404, "DELETE", "/users/" + other, admin)

    # Every operation was exercised, each with its success status.
    for template, method, op in operations():
        ok = min(s for s in op["responses"]
                 if s.startswith("2") or s == "101")
        assert (method.upper(), template, int(ok)) in c.seen, (
            method, template, ok)


def test_readyz_503_is_documented(extra):
    svc = extra.service(extra.database(migrated=False))
    c = Client(svc.url)
    deadline = time.monotonic() + 10
    while True:
        r = requests.get(svc.url + "/readyz", timeout=10)
        if r.status_code == 503 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    r = c(503, "GET", "/readyz")
    assert r.json()["status"] == "unavailable"
    assert r.headers["Retry-After"] == "1"


def test_stale_patch_of_oneself_is_412(base_url, user_factory):
    email = "stale-%s@example.com" % uuid.uuid4().hex[:12]
    user = user_factory(email=email, password="password-1")
    token = requests.post(base_url + "/token", timeout=30, data={
        "username": email, "password": "password-1"}).json()["access_token"]
    r = requests.patch(base_url + "/users/" + user["id"], json={"age": 1},
                       headers={"Authorization": "Bearer " + token,
                                "If-Match": '"999999"'}, timeout=30)
    openapi_check.check_response(r)
    assert r.status_code == 412, r.text
