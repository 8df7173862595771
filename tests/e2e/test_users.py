# userapi: end-to-end tests of the /users resource: create, list, read, replace, patch, delete, If-Match.

import re
import threading
import uuid
from datetime import datetime, timezone

import pytest
import requests

from conftest import JSON_CT, errors, psql, unique_email

USER_KEYS = {"id", "name", "email", "age", "is_active", "is_admin",
             "created_at", "updated_at"}
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
STRONG_ETAG = re.compile(r'^"[^"\s]+"$')
NOT_FOUND = {"detail": "User not found"}
DUPLICATE = {"detail": "Email already registered"}


def check_user(u):
    assert set(u) == USER_KEYS, u
    assert str(uuid.UUID(u["id"])) == u["id"]
    assert uuid.UUID(u["id"]).version in (4, 7)
    assert TS.match(u["created_at"]), u["created_at"]
    assert TS.match(u["updated_at"]), u["updated_at"]
    assert isinstance(u["is_active"], bool)
    assert isinstance(u["is_admin"], bool)
    assert u["age"] is None or isinstance(u["age"], int)


def parse_ts(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=timezone.utc)


def get(http, base_url, uid):
    return http.get("%s/users/%s" % (base_url, uid))


def etag_of(http, base_url, uid):
    r = get(http, base_url, uid)
    assert r.status_code == 200, r.text
    return r.headers["ETag"]


# --- POST /users ------------------------------------------------------------

def test_create_returns_the_user(http, base_url):
    email = unique_email("Ada.Lovelace", "Example.COM")
    before = datetime.now(timezone.utc)
    r = http.post(base_url + "/users",
                  json={"name": "  Ada Lovelace \t", "email": email, "age": 36})
    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"] == JSON_CT
    u = r.json()
    check_user(u)
    local = email.split("@")[0]
    assert u["name"] == "Ada Lovelace"
    assert u["email"] == local + "@example.com"
    assert u["age"] == 36
    assert u["is_active"] is True
    assert u["is_admin"] is False
    assert u["created_at"] == u["updated_at"]
    created = parse_ts(u["created_at"])
    assert abs((created - before).total_seconds()) < 60
    assert r.headers["Location"] == "/users/" + u["id"]
    assert STRONG_ETAG.match(r.headers["ETag"]), r.headers["ETag"]

    g = get(http, base_url, u["id"])
    assert g.status_code == 200
    assert g.json() == u
    assert g.headers["ETag"] == r.headers["ETag"]


def test_create_without_age_gives_null(http, base_url):
    r = http.post(base_url + "/users",
                  json={"name": "No Age", "email": unique_email()})
    assert r.status_code == 201, r.text
    assert r.json()["age"] is None


@pytest.mark.parametrize("age", [0, 150, None])
def test_create_age_bounds(http, base_url, age):
    r = http.post(base_url + "/users",
                  json={"name": "Age", "email": unique_email(), "age": age})
    assert r.status_code == 201, r.text
    assert r.json()["age"] == age


@pytest.mark.parametrize("raw, trimmed", [
    ("\t Bob \n", "Bob"),
    ("\u3000Bob\u00a0", "Bob"),		# ideographic and no-break space
    ("  Mary  Ann  ", "Mary  Ann"),		# inner spaces kept
])
def test_name_is_trimmed(http, base_url, raw, trimmed):
    r = http.post(base_url + "/users", json={"name": raw, "email": unique_email()})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == trimmed


def test_email_domain_lowercased_local_part_kept(http, base_url):
    tag = uuid.uuid4().hex[:8]
    r = http.post(base_url + "/users", json={
        "name": "Case", "email": "MiXeD.Case+%s@Sub.Example.ORG" % tag})
    assert r.status_code == 201, r.text
    assert r.json()["email"] == "MiXeD.Case+%s@sub.example.org" % tag


@pytest.mark.parametrize("variant", [
    lambda e: e.upper(),
    lambda e: e.split("@")[0].upper() + "@" + e.split("@")[1],
    lambda e: e.split("@")[0] + "@" + e.split("@")[1].upper(),
    lambda e: e,
], ids=["all-upper", "local-upper", "domain-upper", "same"])
def test_duplicate_email_is_409(http, base_url, user_factory, variant):
    first = user_factory(email=unique_email("dup"))
    r = http.post(base_url + "/users",
                  json={"name": "Second", "email": variant(first["email"])})
    assert r.status_code == 409, r.text
    assert r.headers["Content-Type"] == JSON_CT
    assert r.json() == DUPLICATE


def test_password_is_stored_as_argon2id_and_never_returned(http, base_url, dsn):
    password = "correct horse battery"
    ids = []
    for _ in range(2):
        r = http.post(base_url + "/users", json={
            "name": "Pw", "email": unique_email("pw"), "password": password})
        assert r.status_code == 201, r.text
        u = r.json()
        check_user(u)
        assert password not in r.text
        assert "argon2" not in r.text
        ids.append(u["id"])
        g = get(http, base_url, u["id"])
        assert "password" not in g.text and "argon2" not in g.text

    rows = psql(dsn, "SELECT password_hash, password_hash LIKE "
                "'$argon2id$v=19$m=19456,t=2,p=1$%' FROM users "
                "WHERE id IN (:'a', :'b') ORDER BY id", a=ids[0], b=ids[1])
    assert len(rows) == 2
    for h, ok in rows:
        assert ok == "t", h
        assert password not in h
        # PHC: $argon2id$v=19$m=..,t=..,p=..$<salt>$<hash>, base64 without padding
        assert re.match(r"^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22,}"
                        r"\$[A-Za-z0-9+/]{43,}$", h), h
    assert rows[0][0] != rows[1][0], "same password, same salt"


def test_no_password_stores_no_hash(http, base_url, dsn, user_factory):
    u = user_factory()
    rows = psql(dsn, "SELECT password_hash IS NULL FROM users WHERE id = :'id'",
                id=u["id"])
    assert rows == [["t"]]


@pytest.mark.parametrize("password", ["p" * 8, "p" * 128, "é" * 8],
                         ids=["8", "128", "8-two-byte-chars"])
def test_password_length_accepted(http, base_url, password):
    r = http.post(base_url + "/users", json={
        "name": "Pw", "email": unique_email("pwlen"), "password": password})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("password, kind", [
    ("p" * 7, "string_too_short"),
    ("é" * 7, "string_too_short"),	# 14 bytes, 7 characters
    ("p" * 129, "string_too_long"),
    ("", "string_too_short"),
])
def test_password_length_refused(http, base_url, password, kind):
    r = http.post(base_url + "/users", json={
        "name": "Pw", "email": unique_email("pwbad"), "password": password})
    assert errors(r) == [(kind, ("body", "password"))]


@pytest.mark.parametrize("name", [
    "Robert'); DROP TABLE users;--",
    "100% _match_ %%",
    "back\\slash \\\\ \\' \\\"",
    "quo\"te 'single' `tick`",
    "$1 ::int4 -- comment /* c */",
    "NULL",
    "\u00e9\u00e8 \u4e2d\u6587 \U0001f600",
])
def test_metacharacters_stored_verbatim(http, base_url, name):
    email = "o'hara_%%x-%s@example.com" % uuid.uuid4().hex[:8]
    r = http.post(base_url + "/users", json={"name": name, "email": email})
    assert r.status_code == 201, r.text
    u = r.json()
    assert u["name"] == name
    assert u["email"] == email
    g = get(http, base_url, u["id"])
    assert g.json()["name"] == name
    assert g.json()["email"] == email
    lst = http.get(base_url + "/users", params={"email": email})
    assert [x["id"] for x in lst.json()] == [u["id"]]
    # the table is still there
    assert http.get(base_url + "/users").status_code == 200


def test_email_filter_is_not_a_pattern(http, base_url, user_factory):
    tag = uuid.uuid4().hex[:8]
    u = user_factory(email="lk%s_a@example.com" % tag)
    user_factory(email="lk%sza@example.com" % tag)

    def ids(email):
        r = http.get(base_url + "/users", params={"email": email, "limit": 100})
        assert r.status_code == 200, r.text
        return [x["id"] for x in r.json()]

    assert ids("lk%s_a@example.com" % tag) == [u["id"]]
    assert ids("lk%s%%@example.com" % tag) == []		# % is no wildcard
    assert ids("lk%sxa@example.com" % tag) == []		# nor is _
    assert ids("%@example.com") == []
    assert ids("lk%s\\_a@example.com" % tag) == []


# --- GET /users -------------------------------------------------------------

def list_all(http, base_url):
    out, skip = [], 0
    while True:
        r = http.get(base_url + "/users", params={"skip": skip, "limit": 100})
        assert r.status_code == 200, r.text
        page = r.json()
        out += page
        if len(page) < 100:
            return out
        skip += 100


def test_list_defaults_and_order(http, base_url, user_factory):
    mine = [user_factory(name="List %d" % i)["id"] for i in range(11)]
    everything = list_all(http, base_url)
    for u in everything:
        check_user(u)
    keys = [(u["created_at"], u["id"]) for u in everything]
    assert keys == sorted(keys), "not ordered by created_at, id"
    # ours come in creation order, one after the other
    pos = [i for i, u in enumerate(everything) if u["id"] in mine]
    assert [everything[i]["id"] for i in pos] == mine

    r = http.get(base_url + "/users")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == JSON_CT
    assert r.json() == everything[:10]
    assert http.get(base_url + "/users?skip=0&limit=10").json() == everything[:10]


def test_list_skip_and_limit(http, base_url, user_factory):
    for i in range(5):
        user_factory(name="Page %d" % i)
    everything = list_all(http, base_url)
    n = len(everything)
    assert n >= 5

    def page(**q):
        r = http.get(base_url + "/users", params=q)
        assert r.status_code == 200, r.text
        return r.json()

    assert page(skip=3, limit=2) == everything[3:5]
    assert page(skip=n - 1, limit=5) == everything[n - 1:]
    assert page(skip=n) == []
    assert page(skip=n + 1000) == []
    assert page(limit=1) == everything[:1]
    assert page(limit=100) == everything[:100]
    assert page(skip=9223372036854775807) == []
    r = http.get(base_url + "/users?skip=%33&limit=%32")		# percent-encoded
    assert r.json() == everything[3:5]


def test_list_order_ties_broken_by_id(http, base_url, dsn):
    a = "00000000-0000-4000-8000-%012x" % (uuid.uuid4().int & (2**48 - 1))
    b = "ffffffff-ffff-4fff-bfff-%012x" % (uuid.uuid4().int & (2**48 - 1))
    tag = uuid.uuid4().hex[:8]
    psql(dsn, "INSERT INTO users (id, name, email, created_at, updated_at) "
         "VALUES (:'b', 'tie b', :'eb', '2000-01-01 00:00:00+00', "
         "'2000-01-01 00:00:00+00'), "
         "(:'a', 'tie a', :'ea', '2000-01-01 00:00:00+00', "
         "'2000-01-01 00:00:00+00')",
         a=a, b=b, ea="tie-a-%s@example.com" % tag, eb="tie-b-%s@example.com" % tag)
    try:
        r = http.get(base_url + "/users", params={"limit": 2})
        assert [u["id"] for u in r.json()] == [a, b]
        assert r.json()[0]["created_at"] == "2000-01-01T00:00:00.000000Z"
    finally:
        psql(dsn, "DELETE FROM users WHERE id IN (:'a', :'b')", a=a, b=b)


@pytest.mark.parametrize("query, expected", [
    ("skip=-1", [("greater_than_equal", ("query", "skip"))]),
    ("limit=0", [("greater_than_equal", ("query", "limit"))]),
    ("limit=-5", [("greater_than_equal", ("query", "limit"))]),
    ("limit=101", [("less_than_equal", ("query", "limit"))]),
    ("limit=abc", [("int_parsing", ("query", "limit"))]),
    ("limit=", [("int_parsing", ("query", "limit"))]),
    ("limit=1.5", [("int_parsing", ("query", "limit"))]),
    ("limit=10abc", [("int_parsing", ("query", "limit"))]),
    ("skip=x", [("int_parsing", ("query", "skip"))]),
    ("skip=99999999999999999999999", [("int_parsing", ("query", "skip"))]),
    ("skip=-1&limit=0", [("greater_than_equal", ("query", "skip")),
                         ("greater_than_equal", ("query", "limit"))]),
    ("skip=a&limit=1000", [("int_parsing", ("query", "skip")),
                           ("less_than_equal", ("query", "limit"))]),
])
def test_list_bad_query(http, base_url, query, expected):
    r = http.get(base_url + "/users?" + query)
    assert errors(r) == expected


def test_list_email_filter(http, base_url, user_factory):
    tag = uuid.uuid4().hex[:8]
    u = user_factory(email="Filter.Me+%s@Example.COM" % tag)
    user_factory(email="filter.other+%s@example.com" % tag)
    assert u["email"] == "Filter.Me+%s@example.com" % tag

    def ids(**q):
        r = http.get(base_url + "/users", params=q)
        assert r.status_code == 200, r.text
        return [x["id"] for x in r.json()]

    assert ids(email="Filter.Me+%s@example.com" % tag) == [u["id"]]
    assert ids(email="Filter.Me+%s@EXAMPLE.com" % tag) == [u["id"]]
    assert ids(email="Filter.Me+%s@example.com" % tag, skip=1) == []
    assert ids(email="nobody-%s@example.com" % tag) == []
    # "+" in a query string is a space: not the same address
    r = http.get(base_url + "/users?email=Filter.Me+%s@example.com" % tag)
    assert r.status_code in (200, 422)
    if r.status_code == 200:
        assert r.json() == []


# --- GET /users/{id} --------------------------------------------------------

def test_get_one(http, base_url, user_factory):
    u = user_factory(age=20)
    r = get(http, base_url, u["id"])
    assert r.status_code == 200
    assert r.headers["Content-Type"] == JSON_CT
    assert r.json() == u
    assert STRONG_ETAG.match(r.headers["ETag"])
    assert r.headers["ETag"] == user_factory.etags[u["id"]]


def test_get_unknown_is_404(http, base_url):
    r = get(http, base_url, uuid.uuid4())
    assert r.status_code == 404
    assert r.headers["Content-Type"] == JSON_CT
    assert r.json() == NOT_FOUND


@pytest.mark.parametrize("bad", [
    "not-a-uuid", "1234", "0" * 35, "0" * 37,
    "00000000-0000-0000-0000-00000000000g",
    "00000000-0000-0000-00000-00000000000",
    "%20" + "0" * 36,
])
def test_get_bad_uuid_is_422(http, base_url, bad):
    r = http.get("%s/users/%s" % (base_url, bad))
    assert errors(r) == [("uuid_parsing", ("path", "user_id"))]


def test_get_uppercase_uuid(http, base_url, user_factory):
    u = user_factory()
    r = get(http, base_url, u["id"].upper())
    assert r.status_code == 200, r.text
    assert r.json()["id"] == u["id"]


# --- PUT /users/{id} --------------------------------------------------------

def test_put_replaces_everything(http, base_url, user_factory):
    u = user_factory(name="Old", age=30)
    old_etag = user_factory.etags[u["id"]]
    email = unique_email("Put", "Example.Net")
    r = http.put("%s/users/%s" % (base_url, u["id"]),
                 json={"name": " New Name ", "email": email})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == JSON_CT
    v = r.json()
    check_user(v)
    assert v["id"] == u["id"]
    assert v["name"] == "New Name"
    assert v["email"] == email.split("@")[0] + "@example.net"
    assert v["age"] is None			# omitted: replaced by null
    assert v["is_active"] is True and v["is_admin"] is False
    assert v["created_at"] == u["created_at"]
    assert parse_ts(v["updated_at"]) > parse_ts(u["updated_at"])
    assert STRONG_ETAG.match(r.headers["ETag"])
    assert r.headers["ETag"] != old_etag
    g = get(http, base_url, u["id"])
    assert g.json() == v
    assert g.headers["ETag"] == r.headers["ETag"]


def test_put_keeps_own_email(http, base_url, user_factory):
    u = user_factory(age=5)
    r = http.put("%s/users/%s" % (base_url, u["id"]),
                 json={"name": "Same Mail", "email": u["email"].upper(), "age": 6})
    # the same address in another case is still this user's own
    assert r.status_code == 200, r.text
    assert r.json()["age"] == 6


@pytest.mark.parametrize("extra_field", ["password", "is_admin", "is_active", "id"])
def test_put_refuses_other_fields(http, base_url, user_factory, extra_field):
    u = user_factory()
    value = {"password": "secret-password", "is_admin": True,
             "is_active": False, "id": u["id"]}[extra_field]
    r = http.put("%s/users/%s" % (base_url, u["id"]),
                 json={"name": "X", "email": u["email"], extra_field: value})
    assert errors(r) == [("extra_forbidden", ("body", extra_field))]
    assert get(http, base_url, u["id"]).json() == u


def test_put_requires_name_and_email(http, base_url, user_factory):
    u = user_factory()
    r = http.put("%s/users/%s" % (base_url, u["id"]), json={"age": 3})
    assert sorted(errors(r)) == [("missing", ("body", "email")),
                                 ("missing", ("body", "name"))]


def test_put_duplicate_email_is_409(http, base_url, user_factory):
    a = user_factory()
    b = user_factory()
    r = http.put("%s/users/%s" % (base_url, b["id"]),
                 json={"name": "B", "email": a["email"].upper()})
    assert r.status_code == 409, r.text
    assert r.json() == DUPLICATE
    assert get(http, base_url, b["id"]).json() == b


def test_put_unknown_is_404(http, base_url):
    r = http.put("%s/users/%s" % (base_url, uuid.uuid4()),
                 json={"name": "Nobody", "email": unique_email()})
    assert r.status_code == 404
    assert r.json() == NOT_FOUND


def test_put_bad_uuid_and_bad_body_together(http, base_url):
    r = http.put(base_url + "/users/not-a-uuid",
                 json={"name": "   ", "email": "nope", "age": 200})
    got = errors(r)
    assert sorted(got) == sorted([
        ("uuid_parsing", ("path", "user_id")),
        ("string_too_short", ("body", "name")),
        ("value_error", ("body", "email")),
        ("less_than_equal", ("body", "age")),
    ])


# --- PATCH /users/{id} ------------------------------------------------------

def patch(http, base_url, uid, body, **headers):
    return http.patch("%s/users/%s" % (base_url, uid), json=body, headers=headers)


def test_patch_updates_a_subset(http, base_url, user_factory):
    u = user_factory(name="Patch Me", age=40)
    r = patch(http, base_url, u["id"], {"age": 41})
    assert r.status_code == 200, r.text
    v = r.json()
    check_user(v)
    assert v["age"] == 41
    assert {k: v[k] for k in ("id", "name", "email", "is_active", "is_admin",
                              "created_at")} == \
        {k: u[k] for k in ("id", "name", "email", "is_active", "is_admin",
                           "created_at")}
    assert STRONG_ETAG.match(r.headers["ETag"])
    assert r.headers["ETag"] != user_factory.etags[u["id"]]

    r = patch(http, base_url, u["id"], {"name": "  Renamed  "})
    assert r.status_code == 200
    assert r.json()["name"] == "Renamed"
    assert r.json()["age"] == 41

    email = unique_email("Patched", "EXAMPLE.org")
    r = patch(http, base_url, u["id"], {"email": email})
    assert r.status_code == 200
    assert r.json()["email"] == email.split("@")[0] + "@example.org"
    assert get(http, base_url, u["id"]).json() == r.json()


def test_patch_age_null_clears(http, base_url, user_factory):
    u = user_factory(age=33)
    r = patch(http, base_url, u["id"], {"age": None})
    assert r.status_code == 200, r.text
    assert r.json()["age"] is None
    assert get(http, base_url, u["id"]).json()["age"] is None


def test_patch_flags(http, base_url, user_factory):
    u = user_factory()
    r = patch(http, base_url, u["id"], {"is_active": False, "is_admin": True})
    assert r.status_code == 200, r.text
    assert r.json()["is_active"] is False
    assert r.json()["is_admin"] is True
    r = patch(http, base_url, u["id"], {"is_active": True})
    assert r.json()["is_active"] is True
    assert r.json()["is_admin"] is True


def test_patch_empty_object(http, base_url, user_factory):
    u = user_factory(age=7)
    r = patch(http, base_url, u["id"], {})
    assert r.status_code == 200, r.text
    v = r.json()
    assert {k: v[k] for k in ("id", "name", "email", "age", "is_active",
                              "is_admin", "created_at")} == \
        {k: u[k] for k in ("id", "name", "email", "age", "is_active",
                           "is_admin", "created_at")}


@pytest.mark.parametrize("body, expected", [
    ({"is_active": "yes"}, [("bool_type", ("body", "is_active"))]),
    ({"is_admin": 1}, [("bool_type", ("body", "is_admin"))]),
    ({"name": None}, [("string_type", ("body", "name"))]),
    ({"email": None}, [("string_type", ("body", "email"))]),
    ({"email": "not-an-email"}, [("value_error", ("body", "email"))]),
    ({"age": -1}, [("greater_than_equal", ("body", "age"))]),
    ({"password": "long-enough-pw"}, [("extra_forbidden", ("body", "password"))]),
    ({"created_at": "2020-01-01T00:00:00Z"},
     [("extra_forbidden", ("body", "created_at"))]),
])
def test_patch_bad_body(http, base_url, user_factory, body, expected):
    u = user_factory()
    r = patch(http, base_url, u["id"], body)
    assert errors(r) == expected
    assert get(http, base_url, u["id"]).json() == u


def test_patch_unknown_is_404(http, base_url):
    r = patch(http, base_url, uuid.uuid4(), {"age": 1})
    assert r.status_code == 404
    assert r.json() == NOT_FOUND


def test_patch_duplicate_email_is_409(http, base_url, user_factory):
    a = user_factory()
    b = user_factory()
    r = patch(http, base_url, b["id"], {"email": a["email"]})
    assert r.status_code == 409, r.text
    assert r.json() == DUPLICATE


# --- DELETE /users/{id} -----------------------------------------------------

def test_delete(http, base_url, user_factory):
    u = user_factory()
    url = "%s/users/%s" % (base_url, u["id"])
    r = http.delete(url)
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert r.headers.get("Content-Length", "0") == "0"
    r = http.get(url)
    assert r.status_code == 404
    assert r.json() == NOT_FOUND
    r = http.delete(url)
    assert r.status_code == 404
    assert r.json() == NOT_FOUND
    # the address is free again
    r = http.post(base_url + "/users", json={"name": "Again", "email": u["email"]})
    assert r.status_code == 201, r.text


def test_delete_bad_uuid(http, base_url):
    r = http.delete(base_url + "/users/xyz")
    assert errors(r) == [("uuid_parsing", ("path", "user_id"))]


# --- If-Match ---------------------------------------------------------------

def test_if_match_stale_is_412(http, base_url, user_factory):
    u = user_factory(age=1)
    url = "%s/users/%s" % (base_url, u["id"])
    stale = user_factory.etags[u["id"]]
    r = http.patch(url, json={"age": 2})
    assert r.status_code == 200
    current = r.headers["ETag"]
    assert current != stale
    after = r.json()

    for method, body in (("PUT", {"name": "X", "email": unique_email()}),
                         ("PATCH", {"age": 3}), ("DELETE", None)):
        r = http.request(method, url, json=body, headers={"If-Match": stale})
        assert r.status_code == 412, (method, r.status_code, r.text)
        assert r.headers["Content-Type"] == JSON_CT
        assert isinstance(r.json()["detail"], str)
    g = http.get(url)
    assert g.json() == after
    assert g.headers["ETag"] == current


def test_if_match_current_succeeds(http, base_url, user_factory):
    u = user_factory(age=1)
    url = "%s/users/%s" % (base_url, u["id"])
    tag = user_factory.etags[u["id"]]
    r = http.patch(url, json={"age": 2}, headers={"If-Match": tag})
    assert r.status_code == 200, r.text
    tag2 = r.headers["ETag"]
    r = http.put(url, json={"name": "P", "email": u["email"], "age": 3},
                 headers={"If-Match": tag2})
    assert r.status_code == 200, r.text
    tag3 = r.headers["ETag"]
    assert len({tag, tag2, tag3}) == 3
    r = http.delete(url, headers={"If-Match": tag3})
    assert r.status_code == 204, r.text


def test_if_match_star(http, base_url, user_factory):
    u = user_factory(age=1)
    url = "%s/users/%s" % (base_url, u["id"])
    for method, body in (("PATCH", {"age": 4}),
                         ("PUT", {"name": "S", "email": u["email"]}),
                         ("DELETE", None)):
        r = http.request(method, url, json=body, headers={"If-Match": "*"})
        assert r.status_code in (200, 204), (method, r.status_code, r.text)
    r = http.patch(url, json={"age": 5}, headers={"If-Match": "*"})
    assert r.status_code == 404
    assert r.json() == NOT_FOUND


def test_if_match_list_with_current_tag(http, base_url, user_factory):
    """RFC 9110 13.1.1: the condition holds when any listed tag matches."""
    u = user_factory(age=1)
    url = "%s/users/%s" % (base_url, u["id"])
    tag = user_factory.etags[u["id"]]
    r = http.patch(url, json={"age": 2},
                   headers={"If-Match": '"999999", %s' % tag})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("garbage", [
    "abc", '"abc"', '""', '"-1"', '"0"', "W/%s", '"1', "1", "**",
    '"99999999999999999999999"',
])
def test_if_match_garbage_is_412(http, base_url, user_factory, garbage):
    u = user_factory(age=1)
    url = "%s/users/%s" % (base_url, u["id"])
    if "%s" in garbage:		# the current tag, weak: never matches
        garbage = garbage % user_factory.etags[u["id"]]
    for method, body in (("PATCH", {"age": 9}),
                         ("PUT", {"name": "G", "email": u["email"]}),
                         ("DELETE", None)):
        r = http.request(method, url, json=body, headers={"If-Match": garbage})
        assert r.status_code == 412, (garbage, method, r.status_code, r.text)
    assert http.get(url).json() == u


def test_if_match_concurrent_writers(base_url, auth, user_factory):
    u = user_factory(age=1)
    url = "%s/users/%s" % (base_url, u["id"])
    tag = user_factory.etags[u["id"]]
    n = 20
    barrier = threading.Barrier(n)
    results = [None] * n

    def writer(i):
        with requests.Session() as s:
            s.headers.update(auth)
            s.get(base_url + "/healthz")		# connect first
            barrier.wait()
            r = s.patch(url, json={"age": 100 + i}, headers={"If-Match": tag})
            results[i] = (r.status_code, r.json().get("age")
                          if r.status_code == 200 else None)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    codes = sorted(c for c, _ in results)
    assert codes == [200] + [412] * (n - 1), results
    winner = [a for c, a in results if c == 200][0]
    assert requests.get(url, headers=auth).json()["age"] == winner
