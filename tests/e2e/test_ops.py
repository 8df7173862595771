# userapi: end-to-end tests of operations: probes, routing errors, request ids, logs, configuration, broken clients.

import json
import re
import socket
import time
import uuid

import pytest
import requests

from conftest import (ADMIN_EMAIL, ADMIN_PASSWORD, JSON_CT, MIGRATIONS,
                      base_env, free_port, json_lines, psql, run_bin,
                      unique_email)

HEX_ID = re.compile(r"^[0-9a-f]{32}$")


# --- probes -----------------------------------------------------------------

def test_healthz(http, base_url):
    r = http.get(base_url + "/healthz")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == JSON_CT
    assert r.json() == {"status": "ok"}


def test_readyz(http, base_url):
    r = http.get(base_url + "/readyz")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == JSON_CT
    body = r.json()
    assert body["status"] == "ok"
    assert body.get("schema", MIGRATIONS[-1]) == MIGRATIONS[-1]


def test_readyz_503_until_migrated(extra, auth):
    c = extra.cluster()
    svc = extra.service(c.dsn)
    r = requests.get(svc.url + "/readyz", timeout=5)
    assert r.status_code == 503, r.text
    assert r.headers["Content-Type"] == JSON_CT
    assert int(r.headers["Retry-After"]) >= 1
    assert isinstance(r.json()["detail"], str)
    assert requests.get(svc.url + "/healthz", timeout=5).status_code == 200
    # users cannot work either: 503, not 500 (a token of the same key)
    r = requests.get(svc.url + "/users", timeout=5, headers=auth)
    assert r.status_code == 503, r.text
    assert "Retry-After" in r.headers

    proc = run_bin(["migrate"], base_env(DATABASE_URL=c.dsn))
    assert proc.returncode == 0, proc.stderr
    deadline = time.monotonic() + 8
    while True:
        r = requests.get(svc.url + "/readyz", timeout=5)
        if r.status_code == 200:
            break
        assert time.monotonic() < deadline, "still %d after migrate: %s" % (
            r.status_code, r.text)
        time.sleep(0.2)
    # an admin made by the command can now log in and list
    proc = run_bin(["create-admin", ADMIN_EMAIL],
                   base_env(DATABASE_URL=c.dsn, ADMIN_PASSWORD=ADMIN_PASSWORD))
    assert proc.returncode == 0, proc.stderr
    token = svc.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    r = requests.get(svc.url + "/users", timeout=5,
                     headers={"Authorization": "Bearer " + token})
    assert r.status_code == 200, r.text
    assert [u["email"] for u in r.json()] == [ADMIN_EMAIL]


def test_readyz_503_when_a_migration_is_pending(extra):
    dsn = extra.database(migrated=True)
    svc = extra.service(dsn, WORKERS=1, ready_path="/readyz")
    last = MIGRATIONS[-1]
    rows = psql(dsn, "DELETE FROM schema_migrations WHERE version = :'v' "
                "RETURNING version, checksum", v=last)
    assert len(rows) == 1
    try:
        r = requests.get(svc.url + "/readyz", timeout=5)
        assert r.status_code == 503, r.text
        assert int(r.headers["Retry-After"]) >= 1
        assert isinstance(r.json()["detail"], str)
    finally:
        psql(dsn, "INSERT INTO schema_migrations (version, checksum) "
             "VALUES (:'v', :'c')", v=rows[0][0], c=rows[0][1])
    assert requests.get(svc.url + "/readyz", timeout=5).status_code == 200


# --- routing errors ---------------------------------------------------------

@pytest.mark.parametrize("path", ["/nope", "/users/x/y", "/users/",
                                  "/healthz/x", "/USERS", "/users%2Fx"])
def test_unknown_route_is_json_404(http, base_url, path):
    r = http.get(base_url + path)
    if path == "/users/":		# the route /users/{id} with an empty id
        assert r.status_code in (404, 422), r.text
        return
    assert r.status_code == 404, r.text
    assert r.headers["Content-Type"] == JSON_CT
    assert r.json() == {"detail": "Not Found"}


def allow(r):
    return {m.strip() for m in r.headers["Allow"].split(",")}


@pytest.mark.parametrize("method, path, methods", [
    ("DELETE", "/users", {"GET", "HEAD", "POST"}),
    ("PUT", "/users", {"GET", "HEAD", "POST"}),
    ("PATCH", "/users", {"GET", "HEAD", "POST"}),
    ("POST", "/users/%s", {"GET", "HEAD", "PUT", "PATCH", "DELETE"}),
    ("POST", "/healthz", {"GET", "HEAD"}),
    ("DELETE", "/healthz", {"GET", "HEAD"}),
    ("PUT", "/readyz", {"GET", "HEAD"}),
])
def test_wrong_method_is_405_with_allow(http, base_url, method, path, methods):
    if "%s" in path:
        path = path % uuid.uuid4()
    r = http.request(method, base_url + path, json={})
    assert r.status_code == 405, r.text
    assert r.headers["Content-Type"] == JSON_CT
    assert isinstance(r.json()["detail"], str)
    assert allow(r) == methods


# --- request ids ------------------------------------------------------------

def test_request_id_generated(http, base_url):
    a = http.get(base_url + "/healthz").headers["X-Request-ID"]
    b = http.get(base_url + "/healthz").headers["X-Request-ID"]
    assert HEX_ID.match(a) and HEX_ID.match(b)
    assert a != b


def test_request_ids_unique_across_connections_and_workers(base_url):
    """Fresh connections spread over the workers: no id repeats."""
    ids = [requests.get(base_url + "/healthz", timeout=10)
           .headers["X-Request-ID"] for _ in range(200)]
    assert all(HEX_ID.match(i) for i in ids)
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("rid", ["abc-123", "A.b_c:d-e", "x" * 64, "7"])
def test_sane_request_id_echoed_and_logged(http, base_url, main_log, rid):
    r = http.get(base_url + "/healthz", headers={"X-Request-ID": rid})
    assert r.headers["X-Request-ID"] == rid
    line = main_log.wait_for("rid=%s" % rid)
    assert line.endswith(" rid=" + rid), line
    assert " access " in line
    assert "method=GET" in line and "path=/healthz" in line
    assert "status=200" in line


@pytest.mark.parametrize("rid", ["x" * 65, "a" * 200, "has space", "semi;colon",
                                 "quote\"d", "slash/ed", "a,b", "{x}", "trailing "])
def test_insane_request_id_replaced(http, base_url, main_log, rid):
    r = http.get(base_url + "/healthz", headers={"X-Request-ID": rid})
    assert r.status_code == 200
    got = r.headers["X-Request-ID"]
    assert got != rid
    assert HEX_ID.match(got), got
    line = main_log.wait_for("rid=%s" % got)
    assert "path=/healthz" in line
    assert rid.strip() not in line


@pytest.mark.parametrize("rid", [b"t\xc3\xa9", b"tab\tx", b"bin\xff"])
def test_request_id_with_bytes_http_refuses(http, base_url, main_log, rid):
    """Kore answers 400 itself for these header values, before the service;
    whatever the answer, the raw value is never echoed."""
    r = http.get(base_url + "/healthz", headers={"X-Request-ID": rid})
    assert r.status_code in (200, 400), r.status_code
    got = r.headers.get("X-Request-ID")
    if r.status_code == 200:
        assert HEX_ID.match(got), got
    else:
        assert got is None or HEX_ID.match(got), got


def test_request_id_on_errors_and_in_log(http, base_url, main_log):
    rid = "e2e-" + uuid.uuid4().hex
    r = http.get(base_url + "/users?limit=0&email=x%40y.z", headers={"X-Request-ID": rid})
    assert r.status_code == 422
    assert r.headers["X-Request-ID"] == rid
    line = main_log.wait_for("rid=" + rid)
    assert "method=GET path=/users status=422" in line, line
    assert "?" not in line.split("path=")[1].split()[0]
    assert "x%40y.z" not in line

    rid2 = "e2e-" + uuid.uuid4().hex
    r = http.post(base_url + "/users", json={"name": "Rid", "email": unique_email()},
                  headers={"X-Request-ID": rid2})
    assert r.status_code == 201
    assert r.headers["X-Request-ID"] == rid2
    line = main_log.wait_for("rid=" + rid2)
    assert "method=POST path=/users status=201" in line
    m = re.search(r"bytes=(\d+)", line)
    assert m and int(m.group(1)) == len(r.content)


@pytest.mark.parametrize("sep", ["\n", "\r", "\r\n"], ids=["lf", "cr", "crlf"])
def test_client_input_cannot_forge_log_lines(base_url, main_log, sep):
    forged = "FORGED-" + uuid.uuid4().hex
    r = requests.post(base_url + "/token", timeout=30,
                      data={"username": "x" + sep + forged,
                            "password": "not-the-password"})
    assert r.status_code == 401
    requests.get(base_url + "/nope%0A" + forged, timeout=5)
    main_log.wait_for(forged)
    for line in main_log.text().replace("\r", "\n").split("\n"):
        assert not line.startswith(forged), line


def test_json_log_format(extra, dsn, auth):
    svc = extra.service(dsn, LOG_FORMAT="json", WORKERS=1)
    rid = "json-" + uuid.uuid4().hex
    r = requests.get(svc.url + "/users?limit=3&skip=0",
                     headers=dict(auth, **{"X-Request-ID": rid}), timeout=5)
    assert r.status_code == 200
    r2 = requests.get(svc.url + "/nope", timeout=5)
    deadline = time.monotonic() + 5
    while True:
        access = [o for o in json_lines(svc.log()) if o.get("request_id") in
                  (rid, r2.headers["X-Request-ID"])]
        if len(access) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(access) == 2, svc.log()
    a, b = sorted(access, key=lambda o: o["request_id"] != rid)
    assert a["method"] == "GET"
    assert a["path"] == "/users"
    assert a["status"] == 200
    assert a["bytes"] == len(r.content)
    assert isinstance(a["us"], int) and a["us"] >= 0
    assert a["request_id"] == rid
    assert b["path"] == "/nope" and b["status"] == 404


def test_json_log_format_every_line_is_json(extra, dsn):
    """LOG_FORMAT=json: a log shipper must be able to parse every line."""
    svc = extra.service(dsn, LOG_FORMAT="json", WORKERS=1)
    requests.get(svc.url + "/healthz", timeout=5)
    svc.stop()
    bad = []
    for line in svc.log().splitlines():
        if not line.strip():
            continue
        try:
            assert isinstance(json.loads(line), dict)
        except (ValueError, AssertionError):
            bad.append(line)
    assert not bad, "lines that are not JSON objects:\n" + "\n".join(bad)


# --- configuration and commands ---------------------------------------------

@pytest.mark.parametrize("key, value", [
    ("BIND", "nonsense"), ("BIND", "127.0.0.1:"), ("BIND", "127.0.0.1:99999"),
    ("BIND", "localhost:8000"),
    ("WORKERS", "0"), ("WORKERS", "abc"), ("WORKERS", "-1"), ("WORKERS", "2x"),
    ("LOG_FORMAT", "xml"), ("DB_POOL_SIZE", "0"), ("DB_QUEUE_MAX", "0"),
    ("DB_TIMEOUT_MS", "soon"), ("BODY_LIMIT", "1MB"), ("TASKS_MAX", "0"),
    ("ARGON2_MEMORY_KIB", "x"), ("ARGON2_ITERATIONS", "0"),
    ("ARGON2_PARALLELISM", "0"), ("USERAPI_DEV", "maybe"),
    ("JWT_SECRET", "too-short"),
])
def test_bad_config_exits_2(dsn, key, value):
    settings = {"DATABASE_URL": dsn, "BIND": "127.0.0.1:%d" % free_port(),
                "WORKERS": "1"}
    settings[key] = value
    t0 = time.monotonic()
    proc = run_bin(["serve"], base_env(**settings), timeout=20)
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert key in lines[0], lines[0]
    assert time.monotonic() - t0 < 10


def test_admin_email_needs_a_password(dsn):
    proc = run_bin(["serve"], base_env(DATABASE_URL=dsn, ADMIN_EMAIL=ADMIN_EMAIL,
                                       BIND="127.0.0.1:%d" % free_port()), timeout=20)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "ADMIN_PASSWORD" in lines[0], proc.stderr


def test_bad_config_exits_2_for_migrate_too(dsn):
    proc = run_bin(["migrate"], base_env(DATABASE_URL=dsn, WORKERS="abc"))
    assert proc.returncode == 2
    assert "WORKERS" in proc.stderr


def test_help():
    for arg in ("--help", "-h"):
        proc = run_bin([arg], base_env())
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("usage: userapi")
        for cmd in ("serve", "migrate", "--version", "--help"):
            assert cmd in proc.stdout
        assert proc.stderr == ""


def test_version():
    proc = run_bin(["--version"], base_env())
    assert proc.returncode == 0
    assert re.match(r"^userapi \d+\.\d+\.\d+\S*( .*)?\n$", proc.stdout), proc.stdout


@pytest.mark.parametrize("args, word", [
    (["frobnicate"], "frobnicate"), (["--frobnicate"], "--frobnicate"),
    (["migrate", "extra"], "migrate"),
])
def test_unknown_command_exits_2(args, word):
    proc = run_bin(args, base_env(BIND="127.0.0.1:%d" % free_port()), timeout=20)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert word in proc.stderr
    assert proc.stdout == ""


# --- clients that go away -----------------------------------------------------

def _connect(base_url):
    host, port = base_url.rsplit("/", 1)[1].split(":")
    s = socket.create_connection((host, int(port)), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def _post_bytes(body, path="/users"):
    return (b"POST %s HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (path.encode(), len(body))) + body


def test_client_disconnects_mid_request(base_url, auth, main_log):
    body = json.dumps({"name": "Gone", "email": unique_email("gone"),
                       "password": "password-for-gone"}).encode()
    for i in range(10):
        # headers and half the body, then close
        s = _connect(base_url)
        req = _post_bytes(body)
        s.sendall(req[:len(req) - len(body) // 2])
        s.close()
        # the whole request, then close before reading (hash task in flight)
        s = _connect(base_url)
        s.sendall(_post_bytes(json.dumps({
            "name": "Gone", "email": unique_email("gone%d" % i),
            "password": "password-for-gone"}).encode()))
        s.close()
        # the whole request without a password (query in flight), then close
        s = _connect(base_url)
        s.sendall(_post_bytes(json.dumps({
            "name": "Gone", "email": unique_email("gonenopw")}).encode()))
        s.close()
        # a list, then close
        s = _connect(base_url)
        s.sendall(b"GET /users?limit=100 HTTP/1.1\r\nHost: test\r\n"
                  b"Authorization: %s\r\n\r\n" % auth["Authorization"].encode())
        s.close()
        # headers only, body never comes: reset
        s = _connect(base_url)
        s.sendall(_post_bytes(body)[:40])
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
    time.sleep(1.0)		# let the tasks and queries finish
    # every worker still answers: fresh connections, several times
    for _ in range(20):
        r = requests.get(base_url + "/users?limit=1", timeout=10,
                         headers=dict(auth, Connection="close"))
        assert r.status_code == 200, r.text
        r = requests.post(base_url + "/users", timeout=10, json={
            "name": "After", "email": unique_email("after")},
            headers={"Connection": "close"})
        assert r.status_code == 201, r.text
    assert requests.get(base_url + "/readyz", timeout=5).status_code == 200


def test_pipelined_requests_then_close(base_url, main_log):
    s = _connect(base_url)
    one = b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n"
    s.sendall(one * 50 + _post_bytes(b'{"name": "P", "email": "%s"}'
                                     % unique_email("pipe").encode()))
    s.close()
    time.sleep(0.3)
    assert requests.get(base_url + "/healthz", timeout=5).status_code == 200


def test_garbage_request_line(base_url, main_log):
    for junk in (b"\x00\x01\x02\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                 b"GET " + b"/" * 10000 + b" HTTP/1.1\r\n\r\n",
                 b"POST /users HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n",
                 b"POST /users HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"):
        s = _connect(base_url)
        try:
            s.sendall(junk)
            s.settimeout(3)
            try:
                s.recv(4096)
            except (socket.timeout, ConnectionResetError):
                pass
        finally:
            s.close()
    assert requests.get(base_url + "/healthz", timeout=5).status_code == 200
