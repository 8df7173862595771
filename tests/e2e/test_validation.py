# userapi: end-to-end tests of request validation: 422 lists, e-mail syntax, malformed bodies, 413, 415.

import socket
import uuid

import pytest
import requests

from conftest import JSON_CT, errors, unique_email


def post_raw(base_url, data, ctype="application/json", **kw):
    headers = {} if ctype is None else {"Content-Type": ctype}
    return requests.post(base_url + "/users", data=data, headers=headers,
                         timeout=30, **kw)


# --- the 422 list -----------------------------------------------------------

def test_all_problems_at_once(http, base_url):
    r = http.post(base_url + "/users",
                  json={"email": "bad", "age": -1, "extra": 1})
    assert sorted(errors(r)) == sorted([
        ("missing", ("body", "name")),
        ("value_error", ("body", "email")),
        ("greater_than_equal", ("body", "age")),
        ("extra_forbidden", ("body", "extra")),
    ])


def test_missing_fields_exact_body(http, base_url):
    r = http.post(base_url + "/users", json={})
    assert r.status_code == 422
    assert r.headers["Content-Type"] == JSON_CT
    detail = r.json()["detail"]
    assert sorted(detail, key=lambda e: e["loc"]) == [
        {"type": "missing", "loc": ["body", "email"], "msg": "Field required"},
        {"type": "missing", "loc": ["body", "name"], "msg": "Field required"},
    ]


@pytest.mark.parametrize("field, value", [
    ("role", "admin"), ("is_admin", True), ("is_active", False),
    ("id", "00000000-0000-4000-8000-000000000000"),
    ("created_at", "2020-01-01T00:00:00Z"), ("password_hash", "x"),
    ("Name", "case matters"),
])
def test_extra_field_forbidden(http, base_url, field, value):
    r = http.post(base_url + "/users",
                  json={"name": "X", "email": unique_email(), field: value})
    assert errors(r) == [("extra_forbidden", ("body", field))]


@pytest.mark.parametrize("body, expected", [
    ({"name": None, "email": None},
     [("string_type", ("body", "name")), ("string_type", ("body", "email"))]),
    ({"name": 123, "email": "a@example.com"}, [("string_type", ("body", "name"))]),
    ({"name": ["x"], "email": "a@example.com"}, [("string_type", ("body", "name"))]),
    ({"name": "x", "email": ["a@example.com"]}, [("string_type", ("body", "email"))]),
    ({"name": "x", "email": "a@example.com", "password": None},
     [("string_type", ("body", "password"))]),
    ({"name": "x", "email": "a@example.com", "password": 12345678},
     [("string_type", ("body", "password"))]),
])
def test_string_type(http, base_url, body, expected):
    r = http.post(base_url + "/users", json=body)
    assert sorted(errors(r)) == sorted(expected)


@pytest.mark.parametrize("age", ["30", 30.5, True, False, [30], {"v": 30}, "abc"])
def test_age_int_type(http, base_url, age):
    r = http.post(base_url + "/users",
                  json={"name": "Age", "email": unique_email(), "age": age})
    assert errors(r) == [("int_type", ("body", "age"))]


@pytest.mark.parametrize("age, kind", [
    (-1, "greater_than_equal"), (151, "less_than_equal"),
    (2**32 + 5, "less_than_equal"),		# must not wrap to 5
    (-2**63, "greater_than_equal"), (2**63 - 1, "less_than_equal"),
])
def test_age_range(http, base_url, age, kind):
    r = http.post(base_url + "/users",
                  json={"name": "Age", "email": unique_email(), "age": age})
    assert errors(r) == [(kind, ("body", "age"))]


# --- e-mail addresses -------------------------------------------------------

def _long_domain(total_len):
    """example-ish domain so that 'a'*64 + '@' + domain has total_len bytes."""
    need = total_len - 65
    labels = []
    while need > 0:
        n = min(63, need - 4) if need > 67 else need - 4
        labels.append("d" * n)
        need -= n + 1
        if need <= 4:
            break
    domain = ".".join(labels) + ".com"
    assert 64 + 1 + len(domain) == total_len, len(domain)
    return domain


BAD_EMAILS = {
    "no-at": "plainaddress.example.com",
    "two-at": "a@b@example.com",
    "leading-dot": ".lead@example.com",
    "trailing-dot-local": "trail.@example.com",
    "consecutive-dots": "a..b@example.com",
    "consecutive-dots-domain": "ab@example..com",
    "label-leading-hyphen": "user@-example.com",
    "label-trailing-hyphen": "user@example-.com",
    "local-65": "x" * 65 + "@example.com",
    "total-255": "a" * 64 + "@" + _long_domain(255),
    "label-64": "user@" + "l" * 64 + ".com",
    "numeric-tld": "user@example.123",
    "ip-address": "user@192.168.0.1",
    "ip-literal": "user@[192.168.0.1]",
    "ipv6-literal": "user@[IPv6:::1]",
    "unicode-domain": "user@ex\u00e4mple.com",
    "unicode-local": "\u00fcser@example.com",
    "empty": "",
    "only-at": "@",
    "no-local": "@example.com",
    "no-domain": "user@",
    "single-label": "user@localhost",
    "space-inside": "us er@example.com",
    "underscore-domain": "user@exa_mple.com",
    "trailing-dot-domain": "user@example.com.",
    "quoted-local": "\"john doe\"@example.com",
    "comma": "a,b@example.com",
    "angle-brackets": "<user@example.com>",
    "display-name": "User <user@example.com>",
    "nul": "user\u0000@example.com",
    "newline": "user@example.com\nx",
}


@pytest.mark.parametrize("email", list(BAD_EMAILS.values()), ids=list(BAD_EMAILS))
def test_bad_email(http, base_url, email):
    r = http.post(base_url + "/users", json={"name": "Mail", "email": email})
    if "\u0000" in email:		# refused before the address is read
        assert nul_fields(r) == [("email",)]
        return
    assert errors(r) == [("value_error", ("body", "email"))]
    assert r.json()["detail"][0]["msg"].startswith(
        "value is not a valid email address"), r.text


def _tagged(local_len=None):
    tag = uuid.uuid4().hex
    if local_len is None:
        return tag[:10]
    return (tag + "x" * 64)[:local_len]


GOOD_EMAILS = {
    "plus": lambda: "first.last+%s@example.com" % _tagged(),
    "subdomains": lambda: "%s@mail.sub.example.co.uk" % _tagged(),
    "local-64": lambda: "%s@example.com" % _tagged(64),
    "total-254": lambda: "%s@%s" % (_tagged(64), _long_domain(254)),
    "apostrophe": lambda: "o'hara.%s@example.com" % _tagged(),
    "hyphen-underscore": lambda: "user-name_%s@ex-ample.io" % _tagged(),
    "short": lambda: "%s@b.co" % _tagged(1),
    "digits-domain": lambda: "%s@123.example.com" % _tagged(),
    "atext": lambda: "!#$%%&*/=?^`{|}~-%s@example.com" % _tagged(),
    "upper-domain": lambda: "%s@EXAMPLE.COM" % _tagged(),
}


@pytest.mark.parametrize("make", list(GOOD_EMAILS.values()), ids=list(GOOD_EMAILS))
def test_good_email(http, base_url, make):
    email = make()
    r = http.post(base_url + "/users", json={"name": "Mail", "email": email})
    assert r.status_code == 201, (email, r.text)
    local, domain = email.rsplit("@", 1)
    assert r.json()["email"] == local + "@" + domain.lower()


def test_email_surrounding_whitespace_is_dropped(http, base_url):
    email = unique_email("ws")
    r = http.post(base_url + "/users", json={"name": "Ws", "email": "  %s\t" % email})
    assert r.status_code == 201, r.text
    assert r.json()["email"] == email


# --- names ------------------------------------------------------------------

@pytest.mark.parametrize("name", [
    "\u00e9" * 100, "\U0001f600" * 100, "a" * 100, "x",
    "  " + "b" * 100 + "  ",		# trimmed before counting
], ids=["e-acute-100", "emoji-100", "ascii-100", "one", "padded-100"])
def test_name_length_accepted(http, base_url, name):
    r = http.post(base_url + "/users", json={"name": name, "email": unique_email()})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == name.strip()


@pytest.mark.parametrize("name, kind", [
    ("\u00e9" * 101, "string_too_long"),
    ("\U0001f600" * 101, "string_too_long"),
    ("a" * 101, "string_too_long"),
    ("a" * 5000, "string_too_long"),
    ("", "string_too_short"),
    ("   ", "string_too_short"),
    ("\t\n\r \u00a0\u3000\u2003", "string_too_short"),
], ids=["e-acute-101", "emoji-101", "ascii-101", "ascii-5000", "empty",
        "spaces", "unicode-spaces"])
def test_name_length_refused(http, base_url, name, kind):
    r = http.post(base_url + "/users", json={"name": name, "email": unique_email()})
    assert errors(r) == [(kind, ("body", "name"))]


NUL_MSG = "Value error, a string must not contain NUL (\\u0000)"


def nul_fields(r):
    """The fields of a 422 that refuses NUL in strings."""
    got = errors(r)
    assert {k for k, _ in got} == {"value_error"}, r.text
    assert {e["msg"] for e in r.json()["detail"]} == {NUL_MSG}, r.text
    return [loc[1:] for _, loc in got]


@pytest.mark.parametrize("body, fields", [
    ('{"name": "a\\u0000b", "email": "%s"}', [("name",)]),
    ('{"name": "\\u0000", "email": "%s"}', [("name",)]),
    ('{"name": "Nul", "email": "%s\\u0000"}', [("email",)]),
    ('{"name": "Nul", "email": "%s", "password": "long enough\\u0000"}',
     [("password",)]),
    ('{"name": "\\u0000", "email": "%s\\u0000", "password": "\\u0000xxxxxxxx"}',
     [("name",), ("email",), ("password",)]),
    # Before the other checks: unknown fields, a missing name.
    ('{"email": "%s", "extra": ["\\u0000"]}', [("extra",)]),
])
def test_nul_in_a_string_is_422_at_its_field(base_url, body, fields):
    """NUL is never part of a name, an e-mail or a password: the 422 names
    the field that holds it (JSON allows the escape, so it is not
    json_invalid)."""
    r = post_raw(base_url, body % unique_email())
    assert nul_fields(r) == fields


def test_nul_in_a_key_is_json_invalid_that_says_so(base_url):
    r = post_raw(base_url, '{"na\\u0000me": "x", "email": "a@example.com"}')
    got = errors(r)
    assert len(got) == 1 and got[0][0] == "json_invalid", got
    assert isinstance(got[0][1][1], int), got
    assert r.json()["detail"][0]["msg"] == (
        "JSON decode error: an object key must not contain NUL (\\u0000)")


def test_nul_in_other_bodies(http, base_url, auth):
    """The password change and the notification read the same parser."""
    h = dict(auth, **{"Content-Type": "application/json"})
    r = requests.post(base_url + "/users/me/password", headers=h, timeout=30,
                      data='{"current_password": "x", "new_password": '
                           '"password\\u0000-2"}')
    assert nul_fields(r) == [("new_password",)]
    me = http.get(base_url + "/users/me").json()
    r = requests.post(base_url + "/users/%s/notify" % me["id"], headers=h,
                      timeout=30, data='{"subject": "Hi\\u0000", '
                                       '"message": "x"}')
    assert nul_fields(r) == [("subject",)]
    r = requests.patch(base_url + "/users/" + me["id"], headers=h,
                       timeout=30, data='{"name": "\\u0000"}')
    assert nul_fields(r) == [("name",)]


def test_other_control_escapes_are_kept(http, base_url):
    """\\u0001 is not NUL: the name keeps it (the JSON answer escapes it)."""
    r = post_raw(base_url, '{"name": "a\\u0001b", "email": "%s"}'
                 % unique_email())
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "a\x01b"


# --- bytes that are not UTF-8 outside JSON ----------------------------------

@pytest.mark.parametrize("query", [
    "email=%FF", "email=%FF%40example.com", "email=a%C3%28%40example.com",
    "email=%ED%A0%80%40example.com", "limit=%FF", "skip=%C3%28", "%FF=1",
])
def test_query_not_utf8_is_not_a_500(http, base_url, main_log, query):
    r = http.get(base_url + "/users?" + query)
    assert r.status_code in (200, 422), (r.status_code, r.text)
    if r.status_code == 200:
        assert r.json() == [] or query == "%FF=1"
    else:
        errors(r)


def test_login_form_not_utf8_is_not_a_500(base_url, main_log):
    r = requests.post(base_url + "/token", data=b"username=%FF%40example.com&password=xxxxxxxx",
                      headers={"Content-Type": "application/x-www-form-urlencoded"},
                      timeout=30)
    assert r.status_code in (401, 422), (r.status_code, r.text)


# --- bodies that are not a user object --------------------------------------

@pytest.mark.parametrize("data", [
    '{"name": "x", "email": ',
    '{"name": "x", "email": "a@example.com"} x',
    '{"name": "x", "email": "a@example.com"}{}',
    "{'name': 'x', 'email': 'a@example.com'}",
    '{"name": "x",}',
    "{",
    "nul",
    '{"name": "x\x01", "email": "a@example.com"}',	# raw control character
    '{"name": "\\ud800", "email": "a@example.com"}',	# lone surrogate
    '{"name": "x", "email": "a@example.com", "age": 1e400}',
])
def test_malformed_json(base_url, data):
    r = post_raw(base_url, data.encode("utf-8", "surrogatepass"))
    got = errors(r)
    assert len(got) == 1, r.text
    kind, loc = got[0]
    assert kind == "json_invalid", r.text
    assert loc[0] == "body" and len(loc) == 2 and isinstance(loc[1], int), loc


@pytest.mark.parametrize("data", [
    b'{"name": "\xff\xfe", "email": "a@example.com"}',
    b'{"name": "\xc0\xaf", "email": "a@example.com"}',	# overlong "/"
    b'{"name": "\xed\xa0\x80", "email": "a@example.com"}',	# encoded surrogate
    b'\xef\xbb\xbf{"name": "bom", "email": "a@example.com"}',
])
def test_non_utf8_is_json_invalid(base_url, data):
    r = post_raw(base_url, data)
    got = errors(r)
    assert [k for k, _ in got] == ["json_invalid"], r.text
    assert got[0][1][0] == "body"


def test_empty_body_is_missing(base_url):
    r = post_raw(base_url, b"")
    assert r.status_code == 422
    assert r.json() == {"detail": [{"type": "missing", "loc": ["body"],
                                    "msg": "Field required"}]}


def test_json_null_body_is_missing(base_url):
    r = post_raw(base_url, b"null")
    assert errors(r) == [("missing", ("body",))]


@pytest.mark.parametrize("data", [b"[]", b'[{"name": "x"}]', b'"a string"',
                                  b"42", b"true"])
def test_non_object_body(base_url, data):
    r = post_raw(base_url, data)
    assert errors(r) == [("model_attributes_type", ("body",))]


@pytest.mark.parametrize("data", [
    b"[" * 100000,
    b"[" * 100000 + b"]" * 100000,
    b'{"a":' * 50000 + b"1" + b"}" * 50000,
    b'{"name": ' + b"[" * 5000 + b"]" * 5000 + b', "email": "a@example.com"}',
], ids=["open-brackets", "balanced-brackets", "nested-objects", "nested-field"])
def test_deep_nesting_is_422(base_url, main_log, data):
    r = post_raw(base_url, data)
    assert r.status_code == 422, r.text
    errors(r)
    assert requests.get(base_url + "/healthz", timeout=5).status_code == 200


# --- content types ----------------------------------------------------------

@pytest.mark.parametrize("ctype, data", [
    ("application/x-www-form-urlencoded", "name=x&email=a%40example.com"),
    ("text/plain", '{"name": "x", "email": "a@example.com"}'),
    ("multipart/form-data; boundary=x", "--x\r\n\r\n--x--\r\n"),
    ("application/jsonx", '{"name": "x", "email": "a@example.com"}'),
    (None, '{"name": "x", "email": "a@example.com"}'),
])
def test_not_json_is_415(base_url, ctype, data):
    r = post_raw(base_url, data, ctype=ctype)
    assert r.status_code == 415, r.text
    assert r.headers["Content-Type"] == JSON_CT
    assert isinstance(r.json()["detail"], str)


@pytest.mark.parametrize("ctype", [
    "application/json; charset=utf-8", "APPLICATION/JSON", "application/json ;charset=UTF-8",
])
def test_json_content_type_variants(base_url, ctype):
    r = post_raw(base_url, '{"name": "Ct", "email": "%s"}' % unique_email(), ctype=ctype)
    assert r.status_code == 201, r.text


def test_not_json_on_put_and_patch_is_415(http, base_url, user_factory):
    u = user_factory()
    for method in ("PUT", "PATCH"):
        r = http.request(method, "%s/users/%s" % (base_url, u["id"]),
                         data="name=x", timeout=10,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 415, (method, r.text)


# --- body size --------------------------------------------------------------

TOO_LARGE = {"detail": "Request body too large"}


def _body_of_size(n):
    head, tail = b'{"name": "', b'", "email": "a@example.com"}'
    return head + b"n" * (n - len(head) - len(tail)) + tail


def test_default_limit_is_one_mib(base_url, main_log):
    r = post_raw(base_url, _body_of_size(1048577))
    assert r.status_code == 413, r.text[:200]
    assert r.headers["Content-Type"] == JSON_CT
    assert r.json() == TOO_LARGE
    # exactly the limit is read and validated
    r = post_raw(base_url, _body_of_size(1048576))
    assert errors(r) == [("string_too_long", ("body", "name"))]


def test_body_over_the_http_limit_is_413(base_url, main_log):
    """Over Kore's own http_body_max (4 MiB) Kore answers before the service."""
    s = socket.create_connection(base_url.rsplit("/", 1)[1].split(":"), timeout=5)
    try:
        s.sendall(b"POST /users HTTP/1.1\r\nHost: t\r\nContent-Type: application/json"
                  b"\r\nContent-Length: %d\r\n\r\n" % (5 * 1048576))
        head = s.recv(4096).split(b"\r\n")[0]
    finally:
        s.close()
    assert head.split()[1] == b"413", head


def test_small_body_limit(extra, dsn, auth):
    svc = extra.service(dsn, BODY_LIMIT=2048, WORKERS=1)
    r = post_raw(svc.url, _body_of_size(2049))
    assert r.status_code == 413, r.text
    assert r.json() == TOO_LARGE
    r = post_raw(svc.url, _body_of_size(2048))
    assert errors(r) == [("string_too_long", ("body", "name"))]
    # the limit covers every body, PUT and PATCH too
    uid = uuid.uuid4()
    for method in ("PUT", "PATCH"):
        r = requests.request(method, "%s/users/%s" % (svc.url, uid),
                             data=_body_of_size(4000), timeout=10,
                             headers=dict(auth, **{"Content-Type": "application/json"}))
        assert r.status_code == 413, (method, r.text)
        assert r.json() == TOO_LARGE
    r = post_raw(svc.url, '{"name": "Small", "email": "%s"}' % unique_email())
    assert r.status_code == 201, r.text


# --- repeated parameters -------------------------------------------------------

UPGRADE = {"Upgrade": "websocket", "Connection": "Upgrade",
           "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
           "Sec-WebSocket-Version": "13"}
REPEATED_MSG = "Query parameter given more than once"


def repeated(r):
    """The names of a 422 of repeated query parameters, in order."""
    got = errors(r)
    assert {k for k, _ in got} == {"duplicate_parameter"}, r.text
    assert all(e["msg"] == REPEATED_MSG for e in r.json()["detail"]), r.text
    assert all(loc[0] == "query" and len(loc) == 2 for _, loc in got), got
    return [loc[1] for _, loc in got]


@pytest.mark.parametrize("query, names", [
    ("limit=5&limit=500", ["limit"]),
    ("limit=5&limit=5", ["limit"]),			# the same value too
    ("skip=0&skip=10", ["skip"]),
    ("email=a@example.com&email=b@example.com", ["email"]),
    ("limit=5&lim%69t=6", ["limit"]),			# names decoded
    ("limit&limit", ["limit"]),
    ("limit=1&skip=1&limit=2&skip=2&email=x&email=y",
     ["skip", "limit", "email"]),			# every one at once
])
def test_repeated_query_parameter_on_users(http, base_url, query, names):
    r = http.get(base_url + "/users?" + query)
    assert repeated(r) == names


@pytest.mark.parametrize("query, names", [
    ("status=failed&status=sent", ["status"]),
    ("skip=0&skip=0", ["skip"]),
    ("limit=1&limit=2&status=queued", ["limit"]),
])
def test_repeated_query_parameter_on_jobs(http, base_url, query, names):
    r = http.get(base_url + "/jobs?" + query)
    assert repeated(r) == names


def test_repeated_query_parameter_before_the_route_checks(http, base_url):
    """A repeat is refused before the handler reads the values: the other
    problems of the query are not listed with it."""
    r = http.get(base_url + "/users?limit=5&limit=500&skip=-1")
    assert repeated(r) == ["limit"]
    r = http.get(base_url + "/users?limit=500&skip=-1")
    assert sorted(errors(r)) == [("greater_than_equal", ("query", "skip")),
                                 ("less_than_equal", ("query", "limit"))]


def test_repeated_access_token_on_ws(base_url, auth):
    """Two tokens on /ws: 422 naming the parameter, never the token; no
    upgrade."""
    token = auth["Authorization"].split(" ", 1)[1]
    r = requests.get(base_url + "/ws?access_token=%s&access_token=%s" % (
        token, token), headers=UPGRADE, timeout=30)
    assert repeated(r) == ["access_token"]
    assert token not in r.text
    r = requests.get(base_url + "/ws?access_token=x&access_token=%s" % token,
                     headers=UPGRADE, timeout=30)
    assert repeated(r) == ["access_token"]
    r = requests.get(base_url + "/ws?last_id=1&last_id=2",
                     headers=dict(UPGRADE, **auth), timeout=30)
    assert repeated(r) == ["last_id"]


def test_repeated_version_of_a_static_file(base_url):
    r = requests.get(base_url + "/static/demo.js?v=1&v=2", timeout=30)
    assert repeated(r) == ["v"]
    r = requests.get(base_url + "/static/demo.js?v=1", timeout=30)
    assert r.status_code == 200


def test_unknown_parameters_are_ignored_repeated_or_not(http, base_url):
    for path in ("/users?x=1&x=2&limit=1", "/jobs?x=1&x=1", "/healthz?a&a",
                 "/users/me?limit=1&limit=2", "/docs?v=1&v=2"):
        r = http.get(base_url + path)
        assert r.status_code == 200, (path, r.status_code, r.text)


def test_one_of_each_is_fine(http, base_url):
    r = http.get(base_url + "/users?skip=0&limit=1&email=nobody%40example.com")
    assert r.status_code == 200 and r.json() == []
    r = http.get(base_url + "/jobs?status=failed&skip=0&limit=1")
    assert r.status_code == 200


def test_repeated_parameter_needs_a_token_first(base_url):
    """Authentication comes first, as for every other 422 of the route."""
    r = requests.get(base_url + "/users?limit=1&limit=2", timeout=30)
    assert r.status_code == 401


@pytest.mark.parametrize("form, name", [
    ("username=a%40example.com&username=b%40example.com&password=pw-123456",
     "username"),
    ("username=a%40example.com&password=x&password=y", "password"),
    ("grant_type=password&grant_type=password&username=a%40example.com"
     "&password=x", "grant_type"),
    ("username=a%40example.com&password=x&scope=&scope=", "scope"),
])
def test_repeated_login_form_field(base_url, form, name):
    """RFC 6749 3.1: no parameter of the token request more than once."""
    r = requests.post(base_url + "/token", data=form, timeout=30, headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    assert errors(r) == [("duplicate_parameter", ("body", name))]
    assert r.json()["detail"][0]["msg"] == "Parameter given more than once"
