# userapi: the request pipeline: the route table's 404/405, request ids, access lines, 422 caps, JSON logs, clients that leave mid-step.

import json
import re
import socket
import subprocess
import time
import uuid

import pytest
import requests

import route_table
from conftest import JSON_CT, PGBIN, unique_email

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
TABLE = route_table.routes()


def concrete(path):
    """A request path for a table path: {name} -> a uuid, * -> a file."""
    path = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
    return path.replace("*", "nope.js")


def table_paths():
    seen = []
    for r in TABLE:
        if r.path not in seen:
            seen.append(r.path)
    return seen


# --- the table: 405 with Allow on every route, JSON 404 elsewhere ----------

@pytest.mark.parametrize("path", table_paths())
def test_every_route_answers_405_with_the_tables_allow(base_url, path):
    rows = [r for r in TABLE if r.path == path]
    allowed = {m for r in rows for m in r.methods}
    want = route_table.allow_of(rows)
    url = base_url + concrete(path)
    refused = [m for m in METHODS if m not in allowed]
    assert refused, path
    for method in refused:
        r = requests.request(method, url, timeout=10)
        assert r.status_code == 405, (method, path, r.status_code)
        assert r.headers["Allow"] == want, (method, path)
        assert re.fullmatch(r"[0-9a-f]{32}", r.headers["X-Request-ID"])
        if method != "HEAD":
            assert r.headers["Content-Type"] == JSON_CT
            assert r.json() == {"detail": "Method Not Allowed"}


def test_table_rows_are_well_formed():
    """Each path claims its methods once; patterns come after the exact
    paths they would shadow (else those could never be reached)."""
    for path in table_paths():
        rows = [r for r in TABLE if r.path == path]
        methods = [m for r in rows for m in r.methods]
        assert len(methods) == len(set(methods)), path
    for i, r in enumerate(TABLE):
        pattern, _ = route_table.match(concrete(r.path) if "{" in r.path
                                       or "*" in r.path else r.path, TABLE)
        assert pattern == r.path, (r.path, "is shadowed by", pattern)


@pytest.mark.parametrize("path", ["/users/me/x", "/static", "/docs/",
                                  "/token/", "//users"])
def test_near_misses_are_json_404(base_url, path):
    r = requests.get(base_url + path, timeout=10)
    assert r.status_code == 404
    assert r.headers["Content-Type"] == JSON_CT
    assert r.json() == {"detail": "Not Found"}
    assert "Allow" not in r.headers


def test_users_me_is_not_a_user_id(base_url, auth):
    """/users/me is its own row: PUT there is 405 (GET and HEAD), not a 422
    about an id."""
    r = requests.put(base_url + "/users/me", json={}, headers=auth,
                     timeout=10)
    assert r.status_code == 405
    assert r.headers["Allow"] == "GET, HEAD"


# --- what the dispatcher does before the handler ------------------------------

def test_authentication_before_the_handler(base_url):
    """Token routes refuse a missing token before reading the body: the
    same 401 whatever the body."""
    for method, path, body in [("GET", "/users/me", None),
                               ("POST", "/users/me/password", b"not json"),
                               ("GET", "/users", None),
                               ("DELETE", "/users/%s" % uuid.uuid4(), None)]:
        r = requests.request(method, base_url + path, data=body, timeout=10)
        assert r.status_code == 401, (path, r.text)
        assert r.headers["WWW-Authenticate"] == "Bearer"
        assert r.json() == {"detail": "Not authenticated"}


def test_request_id_and_one_access_line_per_answer(base_url, main_log):
    """Every answer, from the dispatcher (404, 405, 401) or a handler,
    carries the request id and is logged once with it."""
    cases = [("GET", "/nope"), ("DELETE", "/healthz"), ("GET", "/users/me"),
             ("GET", "/healthz")]
    for i, (method, path) in enumerate(cases):
        rid = "pipe-%d-%s" % (i, uuid.uuid4().hex[:8])
        r = requests.request(method, base_url + path, timeout=10,
                             headers={"X-Request-ID": rid})
        assert r.headers["X-Request-ID"] == rid
        line = main_log.wait_for("rid=%s" % rid)
        assert "method=%s path=%s status=%d" % (method, path,
                                                r.status_code) in line
        time.sleep(0.05)
        assert main_log.text().count("rid=%s" % rid) == 1


# --- 422 lists are capped, unknown keys cost O(body) ------------------------

def test_a_megabyte_of_unknown_keys_gets_a_small_422(base_url):
    parts = []
    size = 2
    i = 0
    while size < 1048576 - 32:
        part = '"k%07d":0' % i
        parts.append(part)
        size += len(part) + 1
        i += 1
    body = ("{" + ",".join(parts) + "}").encode()
    assert len(body) <= 1048576
    r = requests.post(base_url + "/users", data=body, timeout=60,
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert len(r.content) < 8192, len(r.content)
    detail = r.json()["detail"]
    assert len(detail) == 51
    assert all(e["type"] == "extra_forbidden" for e in detail[:50])
    assert [e["loc"] for e in detail[:3]] == [
        ["body", "k0000000"], ["body", "k0000001"], ["body", "k0000002"]]
    # the rest: the other keys and the two missing fields
    assert detail[50] == {"type": "too_many_errors", "loc": ["body"],
                          "msg": "%d more errors not shown" % (i - 50 + 2)}


def test_fifty_errors_are_all_listed(base_url):
    body = {"k%02d" % i: 0 for i in range(48)}
    r = requests.post(base_url + "/users", json=body, timeout=10)
    detail = r.json()["detail"]
    assert len(detail) == 50		# 48 unknown keys, name and email
    assert detail[-1]["type"] == "missing"


# --- JSON logs stay JSON --------------------------------------------------------

def test_json_log_lines_survive_hostile_input(extra, dsn):
    svc = extra.service(dsn, LOG_FORMAT="json", WORKERS=1)
    start = svc.log_size()
    name = bytes((i % 31) + 1 if i % 3 == 0 else 0xff if i % 3 == 1
                 else 0xc3 for i in range(1500))
    form = b"username=" + b"".join(b"%%%02X" % c for c in name) + \
        b"&password=wrong-password"
    r = requests.post(svc.url + "/token", data=form, timeout=30, headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code in (401, 422), r.text
    r = requests.post(svc.url + "/users", timeout=30, json={
        "name": name.decode("latin-1"), "email": "x\x01@\x7f", "\x02": 1})
    assert r.status_code == 422
    requests.get(svc.url + "/" + "%01%ff" * 700, timeout=10)
    requests.get(svc.url + "/healthz", timeout=10)
    time.sleep(0.3)
    lines = svc.log_since(start).splitlines()
    assert lines
    for line in lines:
        assert len(line.encode()) < 4096
        obj = json.loads(line)		# every line, whole
        assert isinstance(obj, dict) and obj["level"], line
    # the service's own lines are not re-read as Kore's
    assert not [l for l in lines if '"source":"kore"' in l and
                ("login" in l or "access" in l)]


# --- clients that leave during each step ------------------------------------

def _connect(url):
    host, port = url.rsplit("/", 1)[1].split(":")
    s = socket.create_connection((host, int(port)), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def _request(method, path, body, ctype, token=None):
    head = "%s %s HTTP/1.1\r\nHost: t\r\nContent-Type: %s\r\n" \
        "Content-Length: %d\r\n" % (method, path, ctype, len(body))
    if token:
        head += "Authorization: Bearer %s\r\n" % token
    return head.encode() + b"\r\n" + body


class Lock:
    """A psql session holding a lock until released: the service's next
    statement on it waits, so a client can leave during that step."""

    def __init__(self, dsn, sql):
        self.proc = subprocess.Popen(
            [str(PGBIN / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
             "-d", dsn], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        self.proc.stdin.write("\\o /dev/null\nBEGIN;\n%s;\n\\echo locked\n" % sql)
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "locked"

    def release(self):
        self.proc.stdin.write("ROLLBACK;\n")
        self.proc.stdin.close()
        self.proc.wait(30)


def _wait_for_blocked(dsn, timeout=10):
    """Until a statement of the service waits on a lock."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(
            [str(PGBIN / "psql"), "-X", "-At", "-d", dsn, "-c",
             "SELECT count(*) FROM pg_stat_activity WHERE "
             "wait_event_type = 'Lock' AND datname = current_database()"],
            stdout=subprocess.PIPE, text=True, timeout=10).stdout.strip()
        if out not in ("", "0"):
            return
        time.sleep(0.05)
    raise AssertionError("no statement of the service waits on the lock")


def _leave(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                 b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()


def _healthy(svc, email, password):
    for _ in range(10):
        r = requests.get(svc.url + "/healthz", timeout=5,
                         headers={"Connection": "close"})
        assert r.status_code == 200
    r = requests.post(svc.url + "/token", timeout=30,
                      data={"username": email, "password": password})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def test_clients_leaving_during_each_step(extra):
    """Login (account query, argon2id, count reset), sign-up with a
    password (argon2id, insert) and password change (hash query, argon2id,
    update): the client leaves while each step waits. No worker dies or
    hangs, and the next requests are answered."""
    dsn = extra.database()
    # argon2id made slow enough (hundreds of ms) to leave during it
    svc = extra.service(dsn, WORKERS=1, ARGON2_ITERATIONS=24)
    email, pw = unique_email("leaver"), "leaver-password-1"
    r = requests.post(svc.url + "/users", timeout=60, json={
        "name": "Leaver", "email": email, "password": pw})
    assert r.status_code == 201, r.text
    uid = r.json()["id"]
    token = _healthy(svc, email, pw)
    form = ("username=%s&password=%s" % (email, pw)).encode()
    form_ct = "application/x-www-form-urlencoded"
    change = json.dumps({"current_password": pw,
                         "new_password": pw}).encode()
    signup = json.dumps({"name": "L", "email": unique_email("leaver2"),
                         "password": pw}).encode()

    # A step waiting on the database: the statement blocks on a lock.
    for sql, req in [
        ("LOCK TABLE login_attempts IN EXCLUSIVE MODE",
         _request("POST", "/token", form, form_ct)),
        ("LOCK TABLE users IN EXCLUSIVE MODE",
         _request("POST", "/users", json.dumps({
             "name": "L", "email": unique_email("l3")}).encode(),
             "application/json")),
        ("SELECT 1 FROM users WHERE id = '%s' FOR UPDATE" % uid,
         _request("POST", "/users/me/password", change, "application/json",
                  token)),
    ]:
        lock = Lock(dsn, sql)
        try:
            s = _connect(svc.url)
            s.sendall(req)
            _wait_for_blocked(dsn)
            _leave(s)
            time.sleep(0.2)
        finally:
            lock.release()
        token = _healthy(svc, email, pw)

    # A step in the background: argon2id runs while the client leaves.
    for req in [_request("POST", "/token", form, form_ct),
                _request("POST", "/users", signup, "application/json"),
                _request("POST", "/users/me/password", change,
                         "application/json", token)]:
        for delay in (0.0, 0.05, 0.15):
            s = _connect(svc.url)
            s.sendall(req)
            time.sleep(delay)
            _leave(s)
        token = _healthy(svc, email, pw)

    # Half a body, then gone: the handler never ran.
    s = _connect(svc.url)
    req = _request("POST", "/token", form, form_ct)
    s.sendall(req[:-5])
    _leave(s)
    time.sleep(1.5)		# let abandoned work end
    _healthy(svc, email, pw)
    assert requests.get(svc.url + "/readyz", timeout=5).status_code == 200
