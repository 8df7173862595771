# userapi: HTTP/1.1 on the wire: framing, pipelining and header limits of the patched Kore (patches/kore), attacked with raw sockets.
"""
Each attack runs against an instance with one worker (WORKERS=1), so a
second connection that asks for /healthz while the attack runs reaches the
same worker: it must answer. After each attack the worker must be the same
process (none died or was restarted) and its memory must not have grown by
more than RSS_SLACK.
"""

import json
import os
import shutil
import socket
import subprocess
import time

import pytest

from conftest import Extras, children_of, unique_email

RSS_SLACK = 24 * 1024		# KiB a worker may grow during one attack
HEADER_MAX = 8192		# http_header_max in conf/userapi.conf
HEADER_LINES = 23		# Kore's most header lines (HTTP_REQ_HEADER_MAX - 2)


# --- the instance -------------------------------------------------------------

@pytest.fixture(scope="module")
def one(session_dir, migrated):
    """An instance with one worker, for the whole module."""
    ex = Extras(session_dir, migrated, "wire")
    try:
        # ASan's quarantine keeps freed blocks (argon2id's 19 MiB) mapped
        # for a while: a small one makes RSS mean what the service holds.
        svc = ex.service(ex.database(), WORKERS=1, ASAN_OPTIONS=(
            "detect_leaks=0:abort_on_error=0:quarantine_size_mb=4"))
        # Warm up: the memory of two argon2id tasks at once (one per task
        # thread) belongs to the baseline, not to an attack.
        form = b"username=%s&password=warm-up-password" % unique_email().encode()
        login = post("/token", form, b"application/x-www-form-urlencoded")
        a, b = connect(svc), connect(svc)
        with a, b:
            a.sendall(login)
            b.sendall(login)
            got = [Reader(a).response(), Reader(b).response()]
        assert [s for s, _, _ in got] == [401, 401], got
        yield svc
    finally:
        ex.close()
    for svc in ex.services:
        bad = svc.bad_lines()
        assert not bad, "%s log shows trouble:\n%s" % (svc.name, "\n".join(bad))


def worker(svc):
    kids = children_of(svc.proc.pid)
    assert len(kids) == 1, kids
    return kids[0]


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


@pytest.fixture
def same_worker(one):
    """The worker before the test is the worker after it, and it has not
    grown by more than RSS_SLACK."""
    pid = worker(one)
    before = rss_kib(pid)
    yield one
    assert worker(one) == pid, "the worker was replaced"
    deadline = time.monotonic() + 5	# memory of finished tasks goes back
    while rss_kib(pid) - before >= RSS_SLACK and time.monotonic() < deadline:
        time.sleep(0.2)
    grown = rss_kib(pid) - before
    assert grown < RSS_SLACK, "worker RSS grew by %d KiB" % grown
    assert healthz(one)


# --- raw HTTP -------------------------------------------------------------------

def connect(svc, timeout=10):
    s = socket.create_connection(("127.0.0.1", svc.port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


class Reader:
    """Reads HTTP/1.1 responses (Content-Length framed) off a socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.closed = False

    def _fill(self, deadline):
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise AssertionError("no answer in time; have %r" % self.buf[:200])
        except ConnectionResetError:
            data = b""
        if not data:
            self.closed = True
        self.buf += data

    def response(self, timeout=15):
        """(status, headers, body), or None when the connection closed."""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            if self.closed:
                assert self.buf == b"", "cut answer %r" % self.buf[:200]
                return None
            self._fill(deadline)
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        version, status = lines[0].split(" ")[:2]
        assert version == "HTTP/1.1", lines[0]
        headers = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            assert k.lower() not in headers, "header twice: %s" % k
            headers[k.lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        while len(self.buf) < n:
            assert not self.closed, "body cut short"
            self._fill(deadline)
        body, self.buf = self.buf[:n], self.buf[n:]
        return int(status), headers, body

    def eof(self, timeout=10):
        """True when the server closes the connection with nothing more."""
        deadline = time.monotonic() + timeout
        while not self.closed:
            self._fill(deadline)
        return self.buf == b""


def get(path, rid=None, extra=b""):
    h = b"GET %s HTTP/1.1\r\nHost: wire\r\n" % path.encode()
    if rid:
        h += b"X-Request-ID: %s\r\n" % rid.encode()
    return h + extra + b"\r\n"


def post(path, body, ctype=b"application/json", rid=None, length=None,
         extra=b""):
    h = (b"POST %s HTTP/1.1\r\nHost: wire\r\nContent-Type: %s\r\n"
         b"Content-Length: %d\r\n" % (path.encode(), ctype,
                                       len(body) if length is None else length))
    if rid:
        h += b"X-Request-ID: %s\r\n" % rid.encode()
    return h + extra + b"\r\n" + body


def healthz(svc, timeout=5):
    """A fresh connection gets 200 from /healthz within timeout."""
    with connect(svc, timeout) as s:
        s.sendall(get("/healthz", extra=b"Connection: close\r\n"))
        r = Reader(s).response(timeout)
    assert r is not None and r[0] == 200, r
    return True


def answers(svc, data, count, timeout=15):
    """Send data in one write; the first count answers and whether the
    server then closed."""
    with connect(svc) as s:
        s.sendall(data)
        rd = Reader(s)
        out = [rd.response(timeout) for _ in range(count)]
    return out


# --- body length and pipelining ---------------------------------------------------

def test_first_read_longer_than_the_body_then_a_stream(same_worker):
    """Content-Length: 1 with `{}` in the same write, then a stream: the
    byte after the body starts the next request, which is garbage (400 and
    close); the worker never spins, keeps answering and does not grow."""
    svc = same_worker
    with connect(svc) as s:
        s.sendall(post("/users", b"{}", length=1))
        rd = Reader(s)
        status, _, body = rd.response()
        assert status == 422 or status == 400, (status, body)
        junk = b"x" * 65536
        sent = 0
        deadline = time.monotonic() + 3
        s.settimeout(0.5)
        try:
            while time.monotonic() < deadline and sent < 4 * 1048576:
                s.sendall(junk)
                sent += len(junk)
                assert healthz(svc, 5)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass
    assert healthz(svc)


def test_body_then_pipelined_request_in_one_write(same_worker):
    svc = same_worker
    data = (post("/users", b"{}", rid="wire-a")
            + get("/healthz", rid="wire-b"))
    (s1, h1, b1), (s2, h2, b2) = answers(svc, data, 2)
    assert s1 == 422 and h1["x-request-id"] == "wire-a", (s1, h1, b1)
    assert s2 == 200 and h2["x-request-id"] == "wire-b", (s2, h2, b2)


def test_two_gets_in_one_write(same_worker):
    svc = same_worker
    data = get("/healthz", rid="two-1") + get("/nope", rid="two-2")
    (s1, h1, _), (s2, h2, _) = answers(svc, data, 2)
    assert (s1, h1["x-request-id"]) == (200, "two-1")
    assert (s2, h2["x-request-id"]) == (404, "two-2")


def test_many_pipelined_requests_answered_in_order(same_worker):
    svc = same_worker
    data = b"".join(get("/healthz", rid="many-%d" % i) for i in range(60))
    got = answers(svc, data, 60)
    assert [h["x-request-id"] for _, h, _ in got] == \
        ["many-%d" % i for i in range(60)]
    assert {s for s, _, _ in got} == {200}


def test_slow_requests_pipelined_with_fast_ones(same_worker):
    """A login (a query and argon2id on a task), /readyz (a query) and
    fast answers in one write: answered in the order they were sent."""
    svc = same_worker
    form = b"username=%s&password=wrong-password" % unique_email().encode()
    data = (post("/token", form, b"application/x-www-form-urlencoded",
                 rid="slow-1")
            + get("/healthz", rid="slow-2")
            + get("/readyz", rid="slow-3")
            + post("/token", form, b"application/x-www-form-urlencoded",
                   rid="slow-4")
            + get("/nope", rid="slow-5"))
    got = answers(svc, data, 5)
    assert [(s, h["x-request-id"]) for s, h, _ in got] == [
        (401, "slow-1"), (200, "slow-2"), (200, "slow-3"),
        (401, "slow-4"), (404, "slow-5")]


def test_pipelined_requests_of_a_client_that_never_reads(same_worker):
    """Thousands of requests for a large document in one go, and no
    answer ever read: the worker answers the next request only once the
    previous answer is handed to the kernel, so what it holds is bounded
    by the socket buffers, not by the number of requests."""
    svc = same_worker
    pid = worker(svc)
    before = rss_kib(pid)
    data = get("/openapi.json") * 3000
    with connect(svc) as s:
        s.setblocking(False)
        sent = 0
        deadline = time.monotonic() + 3
        while sent < len(data) and time.monotonic() < deadline:
            try:
                sent += s.send(data[sent:sent + 65536])
            except BlockingIOError:
                time.sleep(0.05)
        time.sleep(1.0)
        grown = rss_kib(pid) - before
        assert healthz(svc)
    assert grown < RSS_SLACK, "worker RSS grew by %d KiB" % grown


def test_pipelined_request_split_across_writes(same_worker):
    """The next request's first bytes ride with the previous one; the rest
    comes later."""
    svc = same_worker
    nxt = get("/healthz", rid="split-2")
    with connect(svc) as s:
        s.sendall(get("/healthz", rid="split-1") + nxt[:10])
        rd = Reader(s)
        st, h, _ = rd.response()
        assert (st, h["x-request-id"]) == (200, "split-1")
        time.sleep(0.2)
        s.sendall(nxt[10:])
        st, h, _ = rd.response()
        assert (st, h["x-request-id"]) == (200, "split-2")


def test_body_in_pieces_then_pipelined_request(same_worker):
    """The body arrives over several writes; the request after it comes in
    the same write as the body's last bytes."""
    svc = same_worker
    body = json.dumps({"name": "Piece", "email": unique_email("piece")}).encode()
    req = post("/users", body, rid="piece-1")
    with connect(svc) as s:
        s.sendall(req[:-10])
        time.sleep(0.2)
        s.sendall(req[-10:-5])
        time.sleep(0.2)
        s.sendall(req[-5:] + get("/healthz", rid="piece-2"))
        rd = Reader(s)
        st, h, b = rd.response()
        assert (st, h["x-request-id"]) == (201, "piece-1"), b
        st, h, _ = rd.response()
        assert (st, h["x-request-id"]) == (200, "piece-2")


def test_connection_close_stops_the_pipeline(same_worker):
    svc = same_worker
    data = (get("/healthz", rid="cc-1", extra=b"Connection: close\r\n")
            + get("/healthz", rid="cc-2"))
    with connect(svc) as s:
        s.sendall(data)
        rd = Reader(s)
        st, h, _ = rd.response()
        assert (st, h["x-request-id"], h["connection"]) == (200, "cc-1", "close")
        assert rd.eof()


# --- framing: Content-Length and friends -------------------------------------------

# Kore's own answers (patches/kore/0041): JSON with its reason phrase and
# the security headers of every answer.
KORE_DETAIL = {400: "Bad Request", 408: "Request Time-out",
               411: "Length Required", 413: "Request Entity Too Large",
               414: "Request-URI Too Large",
               431: "Request Header Fields Too Large",
               505: "HTTP Version not supported"}


def kore_answer(st, h, body, status):
    """Check one of Kore's own answers."""
    assert st == status, (st, h, body)
    assert json.loads(body) == {"detail": KORE_DETAIL[status]}, body
    assert h["content-type"] == "application/json; charset=utf-8", h
    assert h["x-content-type-options"] == "nosniff", h
    assert h["referrer-policy"] == "no-referrer", h
    assert h["cache-control"] == "no-store", h
    assert "strict-transport-security" not in h, h
    assert h["connection"] == "close", h


def refused(svc, data, status=400):
    """Kore answers status itself (kore_answer) and closes."""
    with connect(svc) as s:
        s.sendall(data)
        rd = Reader(s)
        st, h, body = rd.response()
        kore_answer(st, h, body, status)
        assert rd.eof()


@pytest.mark.parametrize("lengths", [(2, 10), (10, 2), (2, 0)])
def test_conflicting_content_lengths(same_worker, lengths):
    a, b = lengths
    refused(same_worker, post("/users", b"{}" + b" " * 8, length=a,
                              extra=b"Content-Length: %d\r\n" % b))


def test_identical_content_lengths_refused_too(same_worker):
    """One Content-Length per request: identical copies are refused as
    well (as nginx does), so no proxy in front can disagree."""
    refused(same_worker, post("/users", b"{}", extra=b"Content-Length: 2\r\n"))


@pytest.mark.parametrize("value", [b"+2", b"-2", b" 0x2", b"2 2", b"2,2",
                                   b"1e1", b"99999999999999999999", b"\xd9\xa2"])
def test_bad_content_length(same_worker, value):
    data = (b"POST /users HTTP/1.1\r\nHost: wire\r\nContent-Type: "
            b"application/json\r\nContent-Length: " + value + b"\r\n\r\n{}")
    refused(same_worker, data)


def test_content_length_with_trailing_space_is_fine(same_worker):
    data = (b"POST /users HTTP/1.1\r\nHost: wire\r\nContent-Type: "
            b"application/json\r\nContent-Length: 2 \r\n\r\n{}")
    (st, _, _), = answers(same_worker, data, 1)
    assert st == 422


def test_body_on_get_is_skipped(same_worker):
    """A GET with a body: the body is read and ignored, as a proxy in front
    would frame it; a request hidden in it is never answered, the request
    after it is."""
    hidden = get("/nope", rid="hidden")
    data = (get("/healthz", rid="body-get",
                extra=b"Content-Length: %d\r\n" % len(hidden))
            + hidden + get("/healthz", rid="after-body"))
    got = answers(same_worker, data, 2)
    assert [(s, h["x-request-id"]) for s, h, _ in got] == [
        (200, "body-get"), (200, "after-body")]


def test_get_with_content_length_zero_is_fine(same_worker):
    (st, _, _), = answers(same_worker,
                          get("/healthz", extra=b"Content-Length: 0\r\n"), 1)
    assert st == 200


@pytest.mark.parametrize("data", [
    post("/users", b"{}", extra=b"Transfer-Encoding: chunked\r\n"),
    get("/healthz", extra=b"Transfer-Encoding: chunked\r\n") + b"0\r\n\r\n",
])
def test_transfer_encoding_refused(same_worker, data):
    refused(same_worker, data)


def test_chunked_body_without_length_is_411(same_worker):
    refused(same_worker, b"POST /users HTTP/1.1\r\nHost: wire\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 411)


@pytest.mark.parametrize("data", [
    b"GET /healthz HTTP/1.1\r\nHost: wire\rX-A: b\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: wire\r\nX-A: b\r\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: wire\r\nX-A: b\x00c\r\n\r\n",
])
def test_bare_cr_or_nul_in_headers(same_worker, data):
    refused(same_worker, data)


@pytest.mark.parametrize("extra", [b"Host: other\r\n", b"host:  wire\r\n"])
def test_two_host_headers(same_worker, extra):
    refused(same_worker, get("/healthz", extra=extra))


def test_bare_lf_lines_are_read(same_worker):
    data = b"GET /healthz HTTP/1.1\nHost: wire\nX-Request-ID: lf-1\n\n"
    (st, h, _), = answers(same_worker, data + get("/healthz", rid="lf-2"), 1)
    assert (st, h["x-request-id"]) == (200, "lf-1")


# --- header limits ----------------------------------------------------------------

def padded_get(total):
    """A GET /healthz whose request line and headers are total bytes."""
    base = get("/healthz", extra=b"X-Pad: \r\n")
    assert len(base) < total
    return get("/healthz", extra=b"X-Pad: " + b"p" * (total - len(base))
               + b"\r\n")


def test_headers_filling_the_buffer(same_worker):
    """Headers of exactly http_header_max bytes are served."""
    data = padded_get(HEADER_MAX)
    assert len(data) == HEADER_MAX
    (st, _, _), = answers(same_worker, data, 1)
    assert st == 200


def test_headers_over_the_buffer_get_431(same_worker):
    refused(same_worker, padded_get(HEADER_MAX + 1), 431)


def test_headers_far_over_the_buffer_get_431(same_worker):
    """Without any end of headers, a stream of header bytes."""
    with connect(same_worker) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: wire\r\nX-Pad: ")
        try:
            for _ in range(16):
                s.sendall(b"p" * 4096)
        except (BrokenPipeError, ConnectionResetError):
            pass
        rd = Reader(s)
        st, h, body = rd.response()
        kore_answer(st, h, body, 431)


def lines_get(n, rid):
    """A GET /healthz with n header lines (Host and X-Request-ID included)."""
    extra = b"".join(b"X-H%d: v\r\n" % i for i in range(n - 2))
    return get("/healthz", rid=rid, extra=extra)


def test_header_lines_at_the_limit(same_worker):
    (st, h, _), = answers(same_worker, lines_get(HEADER_LINES, "lines-23"), 1)
    assert (st, h["x-request-id"]) == (200, "lines-23")


def test_one_header_line_over_the_limit_gets_431(same_worker):
    refused(same_worker, lines_get(HEADER_LINES + 1, "lines-24"), 431)


# --- Expect: 100-continue -------------------------------------------------------------

def test_expect_100_continue(same_worker):
    """The interim answer comes before the body is sent."""
    body = json.dumps({"name": "Continued",
                       "email": unique_email("cont")}).encode()
    req = post("/users", body, rid="cont-1",
               extra=b"Expect: 100-continue\r\n")
    with connect(same_worker) as s:
        s.sendall(req[:-len(body)])
        rd = Reader(s)
        st, h, b = rd.response()
        assert (st, b) == (100, b""), (st, h, b)
        s.sendall(body)
        st, h, b = rd.response()
        assert (st, h["x-request-id"]) == (201, "cont-1"), b


def test_expect_100_continue_too_large(same_worker):
    """A body over Kore's limit gets 413 at once, never a 100."""
    refused(same_worker, post("/users", b"", length=64 * 1048576,
                              extra=b"Expect: 100-continue\r\n"), 413)


# --- slow and vanishing clients ------------------------------------------------------

def test_unfinished_headers_get_408(same_worker):
    """Headers that never end are answered 408 after http_header_timeout
    (10 s), even when nothing else happens in the worker."""
    with connect(same_worker, 20) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: wire\r\n")
        rd = Reader(s)
        st, h, body = rd.response(20)
        kore_answer(st, h, body, 408)
        assert rd.eof()


def test_body_that_stops_halfway(same_worker):
    """A body that never completes holds its connection until the body
    timeout (30 s, compiled in: not waited for here); meanwhile the worker
    serves everyone else, and a client that gives up frees everything."""
    svc = same_worker
    socks = []
    try:
        for i in range(20):
            s = connect(svc)
            s.sendall(post("/users", b'{"name": "Half', length=200))
            socks.append(s)
        for _ in range(5):
            assert healthz(svc)
        with connect(svc) as s:
            s.sendall(get("/healthz", rid="half-other"))
            st, h, _ = Reader(s).response()
            assert (st, h["x-request-id"]) == (200, "half-other")
    finally:
        for s in socks:
            s.close()


@pytest.mark.parametrize("cut", [10, 40, 80, -20, -1])
def test_client_closes_mid_request(same_worker, cut):
    """The client goes away at several points of a request; a request
    after it on the same worker is served."""
    svc = same_worker
    body = json.dumps({"name": "Gone", "email": unique_email("gone"),
                       "password": "password-for-gone"}).encode()
    req = post("/users", body)
    for linger in (False, True):
        s = connect(svc)
        s.sendall(req[:cut] if cut != -1 else req)
        if linger:		# close with a reset
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
        assert healthz(svc)


@pytest.mark.parametrize("delay", [0, 0.02, 0.08, 0.2])
def test_client_closes_during_each_step(same_worker, delay):
    """Sign-up, login and password change (a query, an argon2id task, a
    query again): the client closes after delay s, in a different step
    each time; the worker finishes or drops the work and serves on."""
    svc = same_worker
    email = unique_email("steps")
    password = b"steps-password-1"
    signup = json.dumps({"name": "Steps", "email": email,
                         "password": password.decode()}).encode()
    (st, _, b), = answers(svc, post("/users", signup), 1)
    assert st == 201, b
    form = b"username=%s&password=%s" % (email.encode(), password)
    login = post("/token", form, b"application/x-www-form-urlencoded")
    (st, _, b), = answers(svc, login, 1)
    assert st == 200, b
    token = json.loads(b)["access_token"].encode()
    change = post("/users/me/password", json.dumps({
        "current_password": password.decode(),
        "new_password": "steps-password-2"}).encode(),
        extra=b"Authorization: Bearer %s\r\n" % token)
    other = json.dumps({"name": "Steps", "email": unique_email("steps2"),
                        "password": "steps-password-3"}).encode()
    for req in (post("/users", other), login, change):
        s = connect(svc)
        s.sendall(req)
        time.sleep(delay)
        s.close()
        assert healthz(svc)
    time.sleep(0.5)			# let the tasks and queries finish
    assert healthz(svc)


def test_no_hsts_on_plain_http(same_worker):
    (st, h, _), = answers(same_worker, get("/healthz"), 1)
    assert st == 200
    assert "strict-transport-security" not in h


# --- the service's main instance ----------------------------------------------------

def test_main_instance_answers_pipelined_requests(main_service):
    """The main instance (two workers) answers pipelined requests too."""
    data = get("/healthz", rid="main-1") + post("/users", b"[]", rid="main-2") \
        + get("/readyz", rid="main-3")
    got = answers(main_service, data, 3)
    assert [(s, h["x-request-id"]) for s, h, _ in got] == [
        (200, "main-1"), (422, "main-2"), (200, "main-3")]


def test_kore_source_rebuilt_and_broken_patch_named(tmp_path):
    """make kore-source in a copy of the Makefile and the series: patches
    once, again only when a patch changes or leaves the series, and a
    patch that does not apply stops it with an error naming the patch."""
    top = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    shutil.copy(os.path.join(top, "Makefile"), tmp_path / "Makefile")
    shutil.copytree(os.path.join(top, "patches"), tmp_path / "patches")

    def make():
        return subprocess.run(["make", "-s", "kore-source"], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=120)

    first = make()
    assert first.returncode == 0 and "patched Kore" in first.stdout, first.stdout
    again = make()
    assert again.returncode == 0 and "patched Kore" not in again.stdout
    last = sorted((tmp_path / "patches" / "kore").glob("*.patch"))[-1]
    last.unlink()			# out of the series: patched again
    fewer = make()
    assert fewer.returncode == 0 and "patched Kore" in fewer.stdout
    victim = sorted((tmp_path / "patches" / "kore").glob("*.patch"))[0]
    text = victim.read_text()
    # A context line that Debian's sources do not have.
    i = text.index("\n \t", text.index("\n@@ "))
    victim.write_text(text[:i + 3] + "/* not in kore */" + text[i + 3:])
    time.sleep(1.1)			# a newer mtime than the stamp
    broken = make()
    assert broken.returncode != 0, broken.stdout
    assert "error: patches/kore/%s does not apply" % victim.name in broken.stdout
    assert not (tmp_path / ".build" / "kore.new").exists()


def test_patched_kore_is_the_one_built():
    """The sanitizer build's Kore came from the patched copy."""
    top = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    stamp = os.path.join(top, ".build", "kore", ".patched")
    patches = sorted(os.listdir(os.path.join(top, "patches", "kore")))
    assert patches and os.path.exists(stamp)
    for p in patches:
        assert os.path.getmtime(os.path.join(top, "patches", "kore", p)) <= \
            os.path.getmtime(stamp), p
