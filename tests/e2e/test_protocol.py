# userapi: e2e: HTTP semantics on the wire: HEAD on every GET route, keep-alive after it.
"""
HEAD answers what GET would, without the body (RFC 9110 9.3.2): the same
status and headers, Content-Length the GET's. Checked on raw sockets, so a
body sent after a HEAD's headers shows up as garbage before the next
answer on the same connection.
"""

import socket
import time

import pytest
import requests

import openapi_check
from conftest import raw_until_close as raw

TIMEOUT = 10

# Headers that differ from one answer to the next whatever the method.
VOLATILE = {"x-request-id", "ratelimit", "keep-alive"}


def connect(svc):
    s = socket.create_connection(("127.0.0.1", svc.port), timeout=TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


class Conn:
    """One keep-alive connection; answers framed by Content-Length,
    except the bodies that HEAD, 204 and 304 never have."""

    def __init__(self, svc):
        self.sock = connect(svc)
        self.buf = b""

    def close(self):
        self.sock.close()

    def _fill(self, deadline):
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        data = self.sock.recv(65536)
        assert data, "connection closed; have %r" % self.buf[:200]
        self.buf += data

    def send(self, method, path, headers=None, version=b"HTTP/1.1"):
        req = b"%s %s %s\r\nHost: protocol\r\n" % (
            method.encode(), path.encode(), version)
        for k, v in (headers or {}).items():
            req += b"%s: %s\r\n" % (k.encode(), v.encode())
        self.sock.sendall(req + b"\r\n")

    def answer(self, method, timeout=TIMEOUT):
        """(status, headers, body) of the next answer; headers lower-cased."""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            self._fill(deadline)
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        assert lines[0].startswith("HTTP/1."), lines[0]
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            assert k.lower() not in headers, "header twice: %s" % k
            headers[k.lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        if method == "HEAD" or status in (204, 304):
            n = 0
        while len(self.buf) < n:
            self._fill(deadline)
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, headers, body

    def exchange(self, method, path, headers=None):
        self.send(method, path, headers)
        return self.answer(method)


@pytest.fixture
def conn(main_service):
    c = Conn(main_service)
    yield c
    c.close()


def follow_up(conn):
    """The connection still frames answers right: a GET of /healthz on it
    gets exactly its own answer (a body sent after a HEAD's headers would
    come first instead)."""
    status, headers, body = conn.exchange("GET", "/healthz")
    assert status == 200, (status, body)
    assert body == b'{"status":"ok"}', body
    assert conn.buf == b"", conn.buf[:200]


def check_doc(method, path, status, headers, body):
    hdrs = {k.title(): v for k, v in headers.items()}
    openapi_check.check(method, path, status, None if method == "HEAD" else
                        body, hdrs, text=None)


@pytest.fixture
def user_path(http, base_url, user_factory):
    return "/users/" + user_factory()["id"]


def get_and_head(conn, path, headers=None):
    g = conn.exchange("GET", path, headers)
    h = conn.exchange("HEAD", path, headers)
    assert conn.buf == b"", "bytes after the HEAD's headers: %r" % (
        conn.buf[:200])
    return g, h


@pytest.mark.parametrize("path", [
    "/healthz", "/readyz", "/docs", "/redoc", "/openapi.json",
    "/asyncapi.json", "/conventions", "/", "/protected", "/users/me",
    "/users?limit=2", "/jobs?limit=2", "{user}"])
def test_head_is_the_get_without_its_body(conn, auth, user_path, path):
    """Same status, same headers (Content-Length included), no body; the
    keep-alive connection then serves the next request."""
    if path == "{user}":
        path = user_path
    g, h = get_and_head(conn, path, auth)
    assert g[0] == 200, (path, g)
    assert g[2], path
    assert h[0] == g[0], (path, h[0], g[0])
    assert h[2] == b""
    assert int(h[1]["content-length"]) == len(g[2]), path
    same = {k: v for k, v in g[1].items() if k not in VOLATILE}
    assert {k: v for k, v in h[1].items() if k not in VOLATILE} == same
    check_doc("HEAD", path.split("?")[0], h[0], h[1], h[2])
    follow_up(conn)


def test_head_of_metrics(conn):
    """/metrics changes between two scrapes: the HEAD has a length and no
    body."""
    h = conn.exchange("HEAD", "/metrics")
    assert h[0] == 200 and h[2] == b"" and conn.buf == b""
    assert int(h[1]["content-length"]) > 0
    assert h[1]["content-type"].startswith("text/plain")
    follow_up(conn)


def test_head_without_token_is_401_without_body(conn):
    g, h = get_and_head(conn, "/users")
    assert g[0] == h[0] == 401
    assert g[2] == b'{"detail":"Not authenticated"}'
    assert h[2] == b""
    assert h[1]["www-authenticate"] == "Bearer"
    assert int(h[1]["content-length"]) == len(g[2])
    check_doc("HEAD", "/users", 401, h[1], h[2])
    follow_up(conn)


def test_head_of_a_missing_user_is_404_and_unknown_path_too(conn, auth):
    path = "/users/00000000-0000-4000-8000-000000000000"
    g, h = get_and_head(conn, path, auth)
    assert g[0] == h[0] == 404 and h[2] == b""
    assert int(h[1]["content-length"]) == len(g[2])
    g, h = get_and_head(conn, "/nope", auth)
    assert g[0] == h[0] == 404 and h[2] == b""
    g, h = get_and_head(conn, "/users/nope", auth)
    assert g[0] == h[0] == 422 and h[2] == b""
    follow_up(conn)


def test_head_honours_if_match_as_get_does(conn, auth, user_path):
    g = conn.exchange("GET", user_path, auth)
    etag = g[1]["etag"]
    h = conn.exchange("HEAD", user_path, dict(auth, **{"If-Match": etag}))
    assert h[0] == 200 and h[1]["etag"] == etag and h[2] == b""
    h = conn.exchange("HEAD", user_path, dict(auth, **{"If-Match": '"0"'}))
    assert h[0] == 412 and h[2] == b""
    follow_up(conn)


def test_head_changes_nothing(conn, auth, user_path, main_log):
    """HEAD runs the GET: the user is still there, unchanged (a HEAD that
    reached the write half of the handler would delete it)."""
    before = conn.exchange("GET", user_path, auth)
    for _ in range(3):
        assert conn.exchange("HEAD", user_path, auth)[0] == 200
    after = conn.exchange("GET", user_path, auth)
    assert after[0] == 200 and after[2] == before[2]
    assert after[1]["etag"] == before[1]["etag"]
    # The access log names the method the client sent, and no body.
    main_log.wait_for("method=HEAD path=%s status=200 bytes=0 " % user_path)


@pytest.mark.parametrize("path, allow", [
    ("/token", "POST"), ("/users/me/password", "POST"),
    ("/jobs/00000000-0000-4000-8000-000000000000/retry", "POST"),
    ("/ws", "GET")])
def test_head_where_no_get_is_405_with_allow(conn, auth, path, allow):
    """HEAD only where GET is: a POST-only route, and /ws (a WebSocket
    upgrade is a GET, RFC 6455 4.1)."""
    g = conn.exchange("OPTIONS", path, auth)
    h = conn.exchange("HEAD", path, auth)
    assert g[0] == h[0] == 405
    assert h[1]["allow"] == g[1]["allow"] == allow
    assert h[2] == b"" and conn.buf == b""
    assert int(h[1]["content-length"]) == len(g[2])
    check_doc("HEAD", path, 405, h[1], h[2])
    follow_up(conn)


def test_allow_lists_head_with_get(base_url):
    r = requests.put(base_url + "/healthz", timeout=TIMEOUT)
    assert r.status_code == 405 and r.headers["Allow"] == "GET, HEAD"
    r = requests.delete(base_url + "/users", timeout=TIMEOUT)
    assert r.status_code == 405 and r.headers["Allow"] == "GET, HEAD, POST"


def test_pipelined_heads_and_gets(main_service, auth):
    """HEAD and GET in one write: each answered, in order, each framed."""
    c = Conn(main_service)
    try:
        order = [("HEAD", "/healthz"), ("GET", "/healthz"),
                 ("HEAD", "/users/me"), ("GET", "/users/me"),
                 ("HEAD", "/openapi.json"), ("GET", "/healthz")]
        for method, path in order:
            c.send(method, path, auth)
        got = [c.answer(m) for m, _ in order]
        assert [g[0] for g in got] == [200] * len(order)
        assert [len(g[2]) > 0 for g in got] == [
            m == "GET" for m, _ in order]
        assert got[0][1]["content-length"] == str(len(got[1][2]))
        assert got[2][1]["content-length"] == str(len(got[3][2]))
        assert c.buf == b""
    finally:
        c.close()


# --- HTTP/1.0 without Host -----------------------------------------------------

def split(out):
    head, body = out.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, v = line.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    return lines[0], headers, body


def test_http10_without_host_is_served(main_service, auth, user_factory):
    """HTTP/1.0 does not require Host (RFC 9112 3.2 asks it of 1.1):
    such requests are answered as with one, on every kind of route."""
    line, h, body = split(raw(main_service, b"GET /healthz HTTP/1.0\r\n\r\n"))
    assert line == "HTTP/1.0 200 OK", line
    assert body == b'{"status":"ok"}'
    assert h["connection"] == "close"
    line, h, body = split(raw(main_service, (
        b"GET /users/me HTTP/1.0\r\nAuthorization: %s\r\n\r\n"
        % auth["Authorization"].encode())))
    assert line == "HTTP/1.0 200 OK", line
    assert b'"email":' in body and int(h["content-length"]) == len(body)
    line, h, body = split(raw(main_service,
                              b"HEAD /openapi.json HTTP/1.0\r\n\r\n"))
    assert line == "HTTP/1.0 200 OK" and body == b"", line
    assert int(h["content-length"]) > 1000
    data = b'{"name": "Ten", "email": "ten-%s@example.com"}' % (
        str(time.monotonic_ns()).encode())
    line, h, body = split(raw(main_service, (
        b"POST /users HTTP/1.0\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(data), data))))
    assert line == "HTTP/1.0 201 Created", (line, body)
    assert h["location"].startswith("/users/")
    line, _, body = split(raw(main_service, b"GET /nope HTTP/1.0\r\n\r\n"))
    assert line.startswith("HTTP/1.0 404 ") and b"Not Found" in body


def test_http10_with_host_still_fine(main_service):
    line, _, body = split(raw(main_service,
                              b"GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n"))
    assert line == "HTTP/1.0 200 OK" and body == b'{"status":"ok"}'


def test_http11_without_host_is_400(main_service):
    out = raw(main_service, b"GET /healthz HTTP/1.1\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 "), out
    out = raw(main_service,
              b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 "), out


@pytest.mark.parametrize("version", [b"HTTP/1.0", b"HTTP/1.1"])
def test_two_hosts_are_400_in_any_version(main_service, version):
    out = raw(main_service, b"GET /healthz %s\r\nHost: a\r\nHost: a\r\n\r\n"
              % version)
    assert out.startswith(b"HTTP/1.1 400 "), out
    assert b'"status":"ok"' not in out


def test_service_still_answers_after_them(main_service, conn):
    for data in (b"GET /healthz HTTP/1.0\r\n\r\n",
                 b"GET /healthz HTTP/1.1\r\n\r\n"):
        raw(main_service, data)
    follow_up(conn)
