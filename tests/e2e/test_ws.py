# userapi: end-to-end tests of WebSocket /ws: auth, revocation, broadcast exactly once across workers and instances, resume, limits.
"""
Real clients: python3-websockets (asyncio) for ordinary clients, and a raw
socket client (RawWS) for what a polite library will not send: invalid
UTF-8, fragments, a client that never reads or never answers pings.

Every broadcast check compares what each client received with what the
database stored (ws_messages): each id exactly once, in increasing order.
"""

import asyncio
import base64
import fcntl
import json
import os
import re
import secrets
import socket
import struct
import subprocess
import termios
import threading
import time
import uuid

import pytest
import requests
import websockets

from conftest import PGBIN, psql, run_bin, base_env, unique_email

TIMEOUT = 30
MSG_RE = re.compile(r'^\{"type":"message","id":\d+,"from":')
AT_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


# --- accounts ------------------------------------------------------------------

def account(url):
    """A new user: its id, email, password and token."""
    email = unique_email("ws")
    password = "pw-" + secrets.token_hex(8)
    r = requests.post(url + "/users", timeout=TIMEOUT, json={
        "name": "WS User", "email": email, "password": password})
    assert r.status_code == 201, r.text
    uid = r.json()["id"]
    r = requests.post(url + "/token", timeout=TIMEOUT,
                      data={"username": email, "password": password})
    assert r.status_code == 200, r.text
    return {"id": uid, "email": email, "password": password,
            "token": r.json()["access_token"]}


@pytest.fixture(scope="module")
def users(main_service):
    return [account(main_service.url) for _ in range(3)]


def ws_url(url, **query):
    u = url.replace("http://", "ws://") + "/ws"
    if query:
        u += "?" + "&".join("%s=%s" % kv for kv in query.items())
    return u


def open_ws(url, token, headers=None, **query):
    """A websockets client (awaitable, or `async with`), bearer header."""
    h = {"Authorization": "Bearer " + token} if token else {}
    h.update(headers or {})
    return websockets.connect(ws_url(url, **query), extra_headers=h,
                              open_timeout=TIMEOUT, max_size=None,
                              ping_interval=None, close_timeout=5)


class connect:
    """open_ws, retried while the instance answers 503 because its bus
    is not connected yet (right after start)."""

    def __init__(self, *args, **kw):
        self.args, self.kw, self.ws = args, kw, None

    def __await__(self):
        return self._open().__await__()

    async def _open(self):
        deadline = time.monotonic() + 15
        while True:
            try:
                return await open_ws(*self.args, **self.kw)
            except websockets.InvalidStatusCode as e:
                if e.status_code != 503 or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    async def __aenter__(self):
        self.ws = await self._open()
        return self.ws

    async def __aexit__(self, *exc):
        await self.ws.close()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


async def recv_json(ws, timeout=10):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def recv_until_closed(ws, timeout=10):
    """Frames until the server closes: (frames, close code)."""
    out = []
    try:
        while True:
            out.append(await asyncio.wait_for(ws.recv(), timeout))
    except websockets.ConnectionClosed as e:
        return out, e.code


def wait_delivered(sock, timeout=20):
    """Until the server's kernel has acknowledged every byte sent on sock.
    A reset throws away what is still in the sender's own send queue, so a
    test that resets must first know its frames left this machine's side:
    what it then asserts is what the service does with frames it got."""
    deadline = time.monotonic() + timeout
    while struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ,
                                         b"\0" * 4))[0] > 0:
        assert time.monotonic() < deadline, "frames never left the client"
        time.sleep(0.005)


async def collect(ws, want, timeout=20):
    """Messages until `want` of type message arrived (or the timeout)."""
    got = []
    deadline = time.monotonic() + timeout
    n = 0
    while n < want:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            m = await recv_json(ws, left)
        except asyncio.TimeoutError:
            break
        got.append(m)
        if m.get("type") == "message":
            n += 1
    return got


def stored(dsn, after=0):
    """(id, msg) rows of ws_messages after id `after`."""
    return [(int(i), json.loads(m)) for i, m in psql(
        dsn, "SELECT id, msg FROM ws_messages WHERE id > :'a' ORDER BY id",
        a=after)]


def last_id(dsn):
    return int(psql(dsn, "SELECT coalesce(max(id), 0) FROM ws_messages")[0][0])


def check_exactly_once(got, ids):
    """got: the messages a client received; ids: what it must have."""
    seen = [m["id"] for m in got if m.get("type") == "message"]
    assert seen == sorted(seen), "out of order: %s" % seen
    assert len(seen) == len(set(seen)), "duplicates: %s" % seen
    assert seen == ids, "missing %s, extra %s" % (
        sorted(set(ids) - set(seen)), sorted(set(seen) - set(ids)))


# --- a raw client ------------------------------------------------------------

class RawWS:
    """A WebSocket client on a plain socket: sends any frame, reads lazily."""

    def __init__(self, url, token, query="", rcvbuf=None):
        host, port = url.replace("http://", "").split(":")
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect((host, int(port)))
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET /ws%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
               "Sec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n"
               "\r\n" % (query, host, key, token))
        self.sock.sendall(req.encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            assert chunk, "closed during the handshake"
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        self.status = int(head.split(b" ")[1])

    def send_frame(self, op, payload, fin=True):
        mask = os.urandom(4)
        b0 = (0x80 if fin else 0) | op
        n = len(payload)
        if n < 126:
            hdr = struct.pack("!BB", b0, 0x80 | n)
        elif n < 65536:
            hdr = struct.pack("!BBH", b0, 0x80 | 126, n)
        else:
            hdr = struct.pack("!BBQ", b0, 0x80 | 127, n)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(hdr + mask + body)

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk

    def recv_frame(self):
        """(fin, opcode, payload)."""
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        n, off = b1 & 0x7f, 2
        if n == 126:
            self._need(4)
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._need(off + n)
        payload = self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        return bool(b0 & 0x80), b0 & 0x0f, payload

    def close_code(self):
        """Read until a close frame: its code (None without one)."""
        return self.close_frame()[0]

    def close_frame(self):
        """Read until a close frame: (code or None, reason)."""
        while True:
            fin, op, payload = self.recv_frame()
            if op == 8:
                if not payload:
                    return None, ""
                return (struct.unpack("!H", payload[:2])[0],
                        payload[2:].decode())

    def at_eof(self):
        """True once the server closed the connection (EOF or a reset
        after the close frame); a server that stalls fails the socket's
        timeout."""
        try:
            while self.sock.recv(65536):
                pass
        except ConnectionResetError:
            pass
        return True

    def close(self):
        self.sock.close()


def raw_frame(b0, payload=b"", masked=True, ext=None, length=None):
    """Frame bytes as a client might send them, valid or not: first byte
    b0; the length in 7 bits, or after 126 (16 bits) or 127 (64 bits)
    when ext says so, whatever its size; length overrides the value."""
    n = len(payload) if length is None else length
    if ext is None:
        ext = 126 if 125 < n < 65536 else 127 if n >= 65536 else None
    m = 0x80 if masked else 0
    if ext == 126:
        hdr = struct.pack("!BBH", b0, m | 126, n)
    elif ext == 127:
        hdr = struct.pack("!BBQ", b0, m | 127, n)
    else:
        hdr = struct.pack("!BB", b0, m | n)
    if not masked:
        return hdr + payload
    mask = os.urandom(4)
    return hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


# --- the upgrade -------------------------------------------------------------

UPGRADE = {"Upgrade": "websocket", "Connection": "Upgrade",
           "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
           "Sec-WebSocket-Version": "13"}


def test_upgrade_without_token_is_401(base_url):
    r = requests.get(base_url + "/ws", headers=UPGRADE, timeout=TIMEOUT)
    assert r.status_code == 401, r.text
    assert r.json() == {"detail": "Not authenticated"}
    assert r.headers["WWW-Authenticate"] == "Bearer"
    assert "Sec-WebSocket-Accept" not in r.headers


@pytest.mark.parametrize("how", ["header", "query"])
def test_upgrade_with_bad_token_is_401(base_url, how):
    h = dict(UPGRADE)
    url = base_url + "/ws"
    if how == "header":
        h["Authorization"] = "Bearer not.a.token"
    else:
        url += "?access_token=not.a.token"
    r = requests.get(url, headers=h, timeout=TIMEOUT)
    assert r.status_code == 401, r.text
    assert r.json() == {"detail": "Invalid token"}


def test_not_an_upgrade_is_400_and_post_is_405(base_url, users):
    h = {"Authorization": "Bearer " + users[0]["token"]}
    r = requests.get(base_url + "/ws", headers=h, timeout=TIMEOUT)
    assert r.status_code == 400, r.text
    assert "WebSocket" in r.json()["detail"]
    r = requests.post(base_url + "/ws", headers=h, timeout=TIMEOUT)
    assert r.status_code == 405 and r.headers["Allow"] == "GET"


def test_bad_last_id_is_400(base_url, users):
    h = dict(UPGRADE, Authorization="Bearer " + users[0]["token"])
    for v in ("x", "-1", "1e3", "", "9" * 30):
        r = requests.get(base_url + "/ws?last_id=" + v, headers=h,
                         timeout=TIMEOUT)
        assert r.status_code == 400, (v, r.text)


def test_query_token_opens_and_is_never_logged(main_service, users, main_log):
    token = users[0]["token"]

    async def go():
        async with websockets.connect(
                ws_url(main_service.url, access_token=token),
                open_timeout=TIMEOUT) as ws:
            await ws.send("via the query")
            m = await recv_json(ws)
            assert m["type"] == "message" and m["text"] == "via the query"
    run(go())
    # A refused one too.
    requests.get(main_service.url + "/ws?access_token=" + token + "x",
                 headers=UPGRADE, timeout=TIMEOUT)
    main_log.wait_for("status=101")
    text = main_log.text()
    sig = token.rsplit(".", 1)[1]
    assert token not in text and sig not in text
    assert "access_token" not in text


def test_origin_is_checked_when_configured(extra, dsn):
    svc = extra.service(dsn, WS_ALLOWED_ORIGINS="https://app.example.com, "
                        "http://localhost:8000")
    u = account(svc.url)
    h = dict(UPGRADE, Authorization="Bearer " + u["token"])
    r = requests.get(svc.url + "/ws", timeout=TIMEOUT,
                     headers=dict(h, Origin="https://evil.example.com"))
    assert r.status_code == 403, r.text
    assert r.json() == {"detail": "Origin not allowed"}

    async def go(origin):
        async with connect(svc.url, u["token"],
                           {"Origin": origin} if origin else None) as ws:
            await ws.ping()
    run(go("https://app.example.com"))
    run(go("http://localhost:8000"))
    run(go(None))		# not a browser: no Origin


def test_socket_cap_is_503_before_upgrade(extra, dsn):
    svc = extra.service(dsn, WS_MAX_CLIENTS=3)
    u = account(svc.url)

    async def go():
        socks = [await connect(svc.url, u["token"]) for _ in range(3)]
        with pytest.raises(websockets.InvalidStatusCode) as e:
            await open_ws(svc.url, u["token"])
        assert e.value.status_code == 503
        r = requests.get(svc.url + "/ws", timeout=TIMEOUT,
                         headers=dict(UPGRADE,
                                      Authorization="Bearer " + u["token"]))
        assert r.status_code == 503 and "Retry-After" in r.headers
        await socks[0].close()
        deadline = time.monotonic() + 10
        while True:		# the count follows the close
            try:
                socks[0] = await open_ws(svc.url, u["token"])
                break
            except websockets.InvalidStatusCode:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.2)
        for s in socks:
            await s.close()
    run(go())


# --- revocation --------------------------------------------------------------

def _revoke_closes(base_url, u, revoke):
    async def go():
        async with connect(base_url, u["token"]) as ws:
            await ws.ping()
            t0 = time.monotonic()
            await asyncio.get_running_loop().run_in_executor(None, revoke)
            frames, code = await recv_until_closed(ws, timeout=15)
            assert code == 1008, code
            assert ws.close_reason == "token revoked"
            return time.monotonic() - t0
    took = run(go())
    assert took < 10
    # And a new socket with that token is refused.

    async def again():
        with pytest.raises(websockets.InvalidStatusCode) as e:
            await connect(base_url, u["token"])
        assert e.value.status_code == 401
    run(again())


def test_password_change_closes_sockets_with_1008(base_url):
    u = account(base_url)

    def revoke():
        r = requests.post(base_url + "/users/me/password", timeout=TIMEOUT,
                          headers={"Authorization": "Bearer " + u["token"]},
                          json={"current_password": u["password"],
                                "new_password": "new-" + u["password"]})
        assert r.status_code == 204, r.text
    _revoke_closes(base_url, u, revoke)


def test_deactivation_closes_sockets_with_1008(base_url, http):
    u = account(base_url)

    def revoke():
        r = http.patch(base_url + "/users/" + u["id"],
                       json={"is_active": False})
        assert r.status_code == 200, r.text
    _revoke_closes(base_url, u, revoke)


def test_deletion_closes_sockets_with_1008(base_url, http):
    u = account(base_url)

    def revoke():
        r = http.delete(base_url + "/users/" + u["id"])
        assert r.status_code == 204, r.text
    _revoke_closes(base_url, u, revoke)


# --- broadcast ---------------------------------------------------------------

async def broadcast_round(urls_tokens, senders, per_sender, dsn):
    """Connect every client, let `senders` of them send, check each got
    every stored message exactly once and each sender's in its order."""
    clients = [await connect(url, tok) for url, tok in urls_tokens]
    start = last_id(dsn)
    texts = {}
    for i, ws in enumerate(clients[:senders]):
        texts[i] = ["s%d-m%d-%s" % (i, k, uuid.uuid4().hex[:6])
                    for k in range(per_sender)]

    async def send_all(ws, lst):
        for t in lst:
            await ws.send(t)
    await asyncio.gather(*(send_all(clients[i], texts[i]) for i in texts))
    total = senders * per_sender
    got = await asyncio.gather(*(collect(ws, total) for ws in clients))
    rows = stored(dsn, start)
    ids = [i for i, _ in rows]
    assert len(ids) == total, (len(ids), total)
    by_text = {m["text"]: m for _, m in rows}
    for lst in texts.values():	# each sender's messages stored in its order
        order = [by_text[t]["id"] for t in lst]
        assert order == sorted(order)
    for g in got:
        check_exactly_once(g, ids)
    for ws in clients:
        await ws.close()
    return got


def test_broadcast_reaches_every_worker_exactly_once(main_service, users,
                                                     dsn, main_log):
    pairs = [(main_service.url, users[i % 3]["token"]) for i in range(16)]
    got = run(broadcast_round(pairs, 4, 5, dsn))
    pids = set(re.findall(r"\[(\d+)\] access method=GET path=/ws status=101",
                          main_log.text()))
    assert len(pids) == 2, "all sockets on one worker: %s" % pids
    m = [x for x in got[0] if x["type"] == "message"][0]
    assert set(m) == {"type", "id", "from", "text", "at"}
    assert m["from"] in {u["email"] for u in users}
    assert AT_RE.match(m["at"]), m["at"]


def test_broadcast_reaches_every_instance_exactly_once(main_service, extra,
                                                       dsn, users):
    other = extra.service(dsn)
    pairs = []
    for i in range(12):
        pairs.append(((main_service, other)[i % 2].url, users[i % 3]["token"]))
    run(broadcast_round(pairs, 3, 6, dsn))


TEXTS = [
    "",
    "plain",
    'quotes " and \\ backslash and \' apostrophe',
    "unicode: é ß ü 中文 日本語 😀 🇫🇷 \u2028\u2029",
    "controls: \x00 \x01 \x08 \t \n \r \x1b \x7f",
    "json-looking: {\"type\":\"reset\"}",
    "x" * 4096,
    "é" * 2048,			# 4096 bytes of UTF-8
    "\x01" * 4096,			# 24 KiB once escaped: past NOTIFY's limit
]


def test_text_round_trips_exactly(main_service, users, dsn):
    async def go():
        a = await connect(main_service.url, users[0]["token"])
        b = await connect(main_service.url, users[1]["token"])
        for t in TEXTS:
            await a.send(t)
        for ws in (a, b):
            got = await collect(ws, len(TEXTS))
            assert [m["text"] for m in got] == TEXTS
            assert all(m["from"] == users[0]["email"] for m in got)
        await a.close()
        await b.close()
    run(go())


def test_large_message_takes_the_table_path_in_order(main_service, users,
                                                     dsn):
    """A message too big for NOTIFY between small ones keeps its place."""
    texts = ["small-1", "\x02" * 4000, "small-2", "\x03" * 4096, "small-3"]

    async def go():
        ws = await connect(main_service.url, users[0]["token"])
        for t in texts:
            await ws.send(t)
        got = await collect(ws, len(texts))
        assert [m["text"] for m in got] == texts
        await ws.close()
    run(go())


def test_messages_before_a_reset_are_kept(main_service, users, dsn):
    """Frames and then a TCP reset at once (SO_LINGER 0), so the worker
    usually sees the data and the hang-up in one event: the frames that
    arrived are read and stored all the same."""
    for attempt in range(5):
        texts = ["rst-%d-%d-%s" % (attempt, k, uuid.uuid4().hex[:6])
                 for k in range(5)]
        start = last_id(dsn)
        raw = RawWS(main_service.url, users[0]["token"])
        raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                            struct.pack("ii", 1, 0))
        raw.sock.sendall(b"".join(raw_frame(0x81, t.encode())
                                  for t in texts))
        wait_delivered(raw.sock)
        raw.close()
        deadline = time.monotonic() + 20
        while len(stored(dsn, start)) < len(texts):
            assert time.monotonic() < deadline, (attempt, stored(dsn, start))
            time.sleep(0.1)
        assert [m["text"] for _, m in stored(dsn, start)] == texts


def test_burst_of_one_sender_is_stored_in_order(main_service, users, dsn):
    """30 messages in one write: they wait for one another's statement
    and are stored together (ws_post takes them as an array), in the
    order sent, and each reaches every client once."""
    texts = ["burst-%02d-%s" % (k, uuid.uuid4().hex[:6]) for k in range(30)]
    start = last_id(dsn)

    async def go():
        b = await connect(main_service.url, users[1]["token"])
        raw = RawWS(main_service.url, users[0]["token"])
        raw.sock.sendall(b"".join(raw_frame(0x81, t.encode())
                                  for t in texts))
        got = await collect(b, len(texts))
        rows = stored(dsn, start)
        assert [m["text"] for _, m in rows] == texts
        check_exactly_once(got, [i for i, _ in rows])
        raw.close()
        await b.close()
    run(go())


def test_messages_of_a_sender_that_leaves_at_once_are_kept(extra, dsn):
    svc = extra.service(dsn, WS_RATE=1000, WS_BURST=1000)
    u = account(svc.url)
    texts = ["bye-%d-%s" % (k, uuid.uuid4().hex[:6]) for k in range(30)]

    async def go():
        b = await connect(svc.url, u["token"])
        a = await connect(svc.url, u["token"])
        for t in texts:
            await a.send(t)
        wait_delivered(a.transport.get_extra_info("socket"))
        a.transport.abort()		# gone without a close handshake
        got = await collect(b, len(texts), 60)
        assert [m["text"] for m in got] == texts
        await b.close()
    run(go())


def test_messages_of_a_sender_gone_when_storing_fails_are_logged(extra):
    """The sender left and its messages' statement then failed (here it
    waits on ws_post's lock past DB_TIMEOUT_MS): nobody is left to get an
    error frame and a retry could store them twice, so the log says how
    many were not stored, and none of them is."""
    db = extra.database()
    svc = extra.service(db, DB_TIMEOUT_MS=2000)
    u = account(svc.url)
    holder = subprocess.Popen(
        [str(PGBIN / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)
    try:
        holder.stdin.write("SELECT pg_advisory_lock(7450217305005);\n")
        holder.stdin.flush()
        deadline = time.monotonic() + 10
        while psql(db, "SELECT count(*) FROM pg_locks WHERE locktype = "
                   "'advisory' AND granted") != [["1"]]:
            assert holder.poll() is None, holder.stderr.read()
            assert time.monotonic() < deadline, "could not take the lock"
            time.sleep(0.05)
        offset = svc.log_size()

        async def go():
            a = await connect(svc.url, u["token"])
            for k in range(3):
                await a.send("lost-%d" % k)
            wait_delivered(a.transport.get_extra_info("socket"))
            a.transport.abort()
        run(go())
        # One statement per batch: the first message's, then the rest's.
        want = re.compile(r"websocket: (\d+) message\(s\) of user %s not "
                          r"stored after its socket closed \(timeout\)"
                          % u["id"])
        deadline = time.monotonic() + 20
        while sum(int(n) for n in want.findall(svc.log_since(offset))) < 3:
            assert time.monotonic() < deadline, svc.log_since(offset)
            time.sleep(0.1)
        assert sum(int(n) for n in want.findall(svc.log_since(offset))) == 3
    finally:
        holder.stdin.close()
        holder.wait(10)
    assert stored(db) == []

    async def after():
        b = await connect(svc.url, u["token"])
        await b.send("after")
        assert [m["text"] for m in await collect(b, 1)] == ["after"]
        await b.close()
    run(after())


# --- resume ------------------------------------------------------------------

def test_resume_with_last_id(main_service, users, dsn):
    async def go():
        a = await connect(main_service.url, users[0]["token"])
        for k in range(5):
            await a.send("resume-%d" % k)
        got = await collect(a, 5)
        ids = [m["id"] for m in got]
        b = await connect(main_service.url, users[1]["token"],
                          last_id=ids[1])
        first = await collect(b, 3)
        assert [m["id"] for m in first] == ids[2:]
        assert [m["text"] for m in first] == ["resume-2", "resume-3",
                                              "resume-4"]
        await a.send("live")
        live = await collect(b, 1)
        assert [m["text"] for m in live] == ["live"]
        assert live[0]["id"] > ids[-1]
        # Nothing after the newest: nothing but live ones.
        c = await connect(main_service.url, users[2]["token"],
                          last_id=live[0]["id"])
        await a.send("after")
        assert [m["text"] for m in await collect(c, 1)] == ["after"]
        for ws in (a, b, c):
            await ws.close()
    run(go())


def test_resume_past_the_window_gets_reset(extra):
    dsn = extra.database()
    svc = extra.service(dsn, WS_HISTORY=3, WS_RATE=1000, WS_BURST=1000)
    u = account(svc.url)

    async def go():
        a = await connect(svc.url, u["token"])
        for k in range(10):
            await a.send("w-%d" % k)
        got = await collect(a, 10)
        ids = [m["id"] for m in got]
        deadline = time.monotonic() + 20	# pruned every 5 s
        while len(stored(dsn)) > 3:
            assert time.monotonic() < deadline, "not pruned"
            await asyncio.sleep(0.5)
        b = await connect(svc.url, u["token"], last_id=ids[0])
        first = await collect(b, 3)
        assert first[0] == {"type": "reset"}
        assert [m["id"] for m in first[1:]] == ids[-3:]
        # Within the window: no reset.
        c = await connect(svc.url, u["token"], last_id=ids[-3])
        assert [m["id"] for m in await collect(c, 2)] == ids[-2:]
        for ws in (a, b, c):
            await ws.close()
    run(go())


# --- limits and close codes --------------------------------------------------

def test_binary_frame_closes_1003(main_service, users):
    async def go():
        async with connect(main_service.url, users[0]["token"]) as ws:
            await ws.send(b"\x00\x01binary")
            _, code = await recv_until_closed(ws)
            assert code == 1003
    run(go())


def test_oversized_message_closes_1009(main_service, users):
    async def go():
        async with connect(main_service.url, users[0]["token"]) as ws:
            await ws.send("y" * 4097)
            _, code = await recv_until_closed(ws)
            assert code == 1009
    run(go())


def test_invalid_utf8_closes_1007(main_service, users):
    for bad in (b"\xff", b"abc\xc3", b"\xed\xa0\x80", b"\xc0\xaf"):
        ws = RawWS(main_service.url, users[0]["token"])
        assert ws.status == 101
        ws.send_frame(1, bad)
        assert ws.close_code() == 1007, bad
        ws.close()


def test_fragmented_message_closes_1003(main_service, users):
    ws = RawWS(main_service.url, users[0]["token"])
    ws.send_frame(1, b"part one, ", fin=False)
    ws.send_frame(0, b"part two")
    assert ws.close_code() == 1003
    ws.close()

    async def go():			# the library's own fragments
        async with connect(main_service.url, users[0]["token"]) as w:
            try:
                await w.send(iter(["a", "b", "c"]))
            except websockets.ConnectionClosed:
                pass		# closed before the last fragment went out
            _, code = await recv_until_closed(w)
            assert code == 1003, (code, w.close_reason)
    run(go())


# Frames that break RFC 6455: each must get a close frame with 1002, then
# the end of the connection (never a stall, never a bare TCP close).
PROTOCOL_ERRORS = {
    "unmasked": raw_frame(0x81, b"hello", masked=False),
    "rsv1": raw_frame(0xc1, b"hello"),
    "rsv2": raw_frame(0xa1, b"hello"),
    "rsv3": raw_frame(0x91, b"hello"),
    "opcode_3": raw_frame(0x83, b"hello"),
    "opcode_0xb": raw_frame(0x8b),
    "ping_over_125": raw_frame(0x89, b"p" * 126),
    "fragmented_ping": raw_frame(0x09, b"p"),
    "continuation_without_start": raw_frame(0x80, b"more"),
    "len16_short": raw_frame(0x81, b"hello", ext=126),
    "len64_short": raw_frame(0x81, b"h" * 200, ext=127),
    "len64_top_bit": raw_frame(0x81, ext=127, length=(1 << 63) + 5),
    "close_1_byte": raw_frame(0x88, b"\x03"),
    "close_code_1005": raw_frame(0x88, struct.pack("!H", 1005)),
    "close_code_999": raw_frame(0x88, struct.pack("!H", 999)),
}


@pytest.mark.parametrize("case", sorted(PROTOCOL_ERRORS))
def test_protocol_error_closes_1002(main_service, users, case):
    ws = RawWS(main_service.url, users[0]["token"])
    assert ws.status == 101
    ws.sock.sendall(PROTOCOL_ERRORS[case])
    code, reason = ws.close_frame()
    assert code == 1002, (code, reason)
    assert reason
    assert ws.at_eof()
    ws.close()


def test_frame_over_maxframe_closes_1009(main_service, users):
    # Refused from the header: the payload is never sent.
    for hdr in (raw_frame(0x81, ext=127, length=1 << 20)[:10],
                raw_frame(0x81, ext=126, length=5000)[:4]):
        ws = RawWS(main_service.url, users[0]["token"])
        ws.sock.sendall(hdr + os.urandom(4))
        assert ws.close_frame() == (1009, "frame too big")
        assert ws.at_eof()
        ws.close()


def test_client_close_code_is_echoed(main_service, users):
    for payload, want in ((struct.pack("!H", 4000) + b"bye", 4000),
                          (struct.pack("!H", 1000), 1000), (b"", None)):
        ws = RawWS(main_service.url, users[0]["token"])
        ws.sock.sendall(raw_frame(0x88, payload))
        assert ws.close_code() == want
        assert ws.at_eof()
        ws.close()


def test_other_clients_keep_receiving_while_bad_frames_are_refused(
        main_service, users, dsn):
    """A sender and a receiver go on while raw clients are failed one
    after another (1002, 1003, 1009) on the same workers."""
    bad = list(PROTOCOL_ERRORS.values()) + [
        raw_frame(0x01, b"first fragment"),
        raw_frame(0x81, ext=126, length=5000)[:4] + os.urandom(4)]
    start = last_id(dsn)

    def refuse_all():
        for frame in bad:
            ws = RawWS(main_service.url, users[1]["token"])
            ws.sock.sendall(frame)
            assert ws.close_code() in (1002, 1003, 1009)
            ws.close()

    async def go():
        a = await connect(main_service.url, users[0]["token"])
        b = await connect(main_service.url, users[2]["token"])
        loop = asyncio.get_running_loop()
        refusing = loop.run_in_executor(None, refuse_all)
        for k in range(20):
            await a.send("meanwhile-%d" % k)
            await asyncio.sleep(0.05)
        got = await collect(b, 20)
        await refusing
        ids = [i for i, _ in stored(dsn, start)]
        check_exactly_once(got, ids)
        await a.close()
        await b.close()
    run(go())


def test_message_rate_closes_1008(extra, dsn):
    svc = extra.service(dsn, WS_RATE=5, WS_BURST=5)
    u = account(svc.url)

    async def go():
        async with connect(svc.url, u["token"]) as ws:
            for k in range(20):
                try:
                    await ws.send("flood-%d" % k)
                except websockets.ConnectionClosed:
                    break
            _, code = await recv_until_closed(ws)
            assert code == 1008
            assert ws.close_reason == "rate limit exceeded"
        # Within the rate: fine.
        async with connect(svc.url, u["token"]) as ws:
            for k in range(3):
                await ws.send("slow-%d" % k)
                await asyncio.sleep(0.25)
            assert len(await collect(ws, 3)) == 3
    run(go())


def test_idle_timeout_closes_1001(extra, dsn):
    """Server pings; a client that never answers them is closed after
    WEBSOCKET_TIMEOUT with 1001 "idle timeout", then the connection
    ends; a client that answers stays."""
    svc = extra.service(dsn, WS_PING_SECONDS=1, WEBSOCKET_TIMEOUT=3)
    u = account(svc.url)
    raw = RawWS(svc.url, u["token"])
    t0 = time.monotonic()
    fin, op, _ = raw.recv_frame()
    assert op == 9, op			# a ping, unasked
    assert raw.close_frame() == (1001, "idle timeout")
    assert 2 < time.monotonic() - t0 < 10
    assert raw.at_eof()
    raw.close()

    async def go():			# a client that answers pings stays
        async with connect(svc.url, u["token"]) as ws:
            await asyncio.sleep(5)
            await ws.send("still here")
            assert (await recv_json(ws))["text"] == "still here"
    run(go())


def test_client_that_does_not_read_is_dropped(extra, dsn):
    svc = extra.service(dsn, WS_MAX_QUEUED=65536, WS_RATE=10000,
                        WS_BURST=10000)
    u = account(svc.url)
    slow = RawWS(svc.url, u["token"], rcvbuf=4096)
    assert slow.status == 101
    slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    text = "z" * 4000
    n = 2000			# 8 MB: past the socket buffers (4 MiB) + 64 KiB

    async def go():
        a = await connect(svc.url, u["token"])
        b = await connect(svc.url, u["token"])
        ga, gb = [], []

        async def receive(ws, got):
            while len(got) < n:
                m = await recv_json(ws, 60)
                if m.get("type") == "message":
                    got.append(m)

        # The readers keep up however slow this machine is: the sender
        # stays at most 8 messages (32 KB, under WS_MAX_QUEUED alone)
        # ahead of what both have received, so only `slow` can fall back.
        async def send():
            for k in range(n):
                while k - min(len(ga), len(gb)) >= 8:
                    await asyncio.sleep(0.001)
                await a.send("%04d" % k + text)
        await asyncio.gather(send(), receive(a, ga), receive(b, gb))
        assert len(ga) == n and len(gb) == n
        await a.close()
        await b.close()
    run(go())
    deadline = time.monotonic() + 10
    while "dropped" not in svc.log():
        assert time.monotonic() < deadline, "the slow client was kept"
        time.sleep(0.2)
    assert re.search(r"websocket \S+ dropped: \d+ bytes unsent", svc.log())
    slow.close()


def test_http_keeps_serving_while_clients_flood(main_service, users):
    stop = threading.Event()

    def flood():
        async def go():
            while not stop.is_set():
                try:
                    async with connect(main_service.url,
                                       users[2]["token"]) as ws:
                        while not stop.is_set():
                            await ws.send("f" * 1000)
                except (websockets.ConnectionClosed,
                        websockets.InvalidStatusCode, OSError):
                    await asyncio.sleep(0.05)
        asyncio.run(go())
    threads = [threading.Thread(target=flood) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        for _ in range(20):
            t0 = time.monotonic()
            r = requests.get(main_service.url + "/healthz", timeout=5)
            assert r.status_code == 200
            assert time.monotonic() - t0 < 5
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join(30)


# --- PostgreSQL restarted mid-stream -----------------------------------------

def test_postgres_restart_loses_and_duplicates_nothing(extra):
    c = extra.cluster()
    proc = run_bin(["migrate"], base_env(DATABASE_URL=c.dsn))
    assert proc.returncode == 0, proc.stderr
    s1 = extra.service(c.dsn, WS_RATE=1000, WS_BURST=1000)
    s2 = extra.service(c.dsn)
    u = account(s1.url)
    sent = []
    errors = []

    async def go():
        clients = [await connect((s1, s2)[i % 2].url, u["token"])
                   for i in range(8)]
        sender = clients[0]
        done = asyncio.Event()

        async def produce():
            k = 0
            t0 = time.monotonic()
            while time.monotonic() - t0 < 12:
                await sender.send("pg-%d" % k)
                sent.append(k)
                k += 1
                await asyncio.sleep(0.02)
            done.set()

        async def receive(ws):
            got = []
            quiet = 0
            while quiet < 3:
                try:
                    m = await recv_json(ws, 1)
                except asyncio.TimeoutError:
                    quiet += done.is_set()
                    continue
                quiet = 0
                if m["type"] == "error":
                    errors.append(m)
                else:
                    got.append(m)
            return got

        def restart():
            time.sleep(3)
            c.stop()
            time.sleep(2)
            c.start()
        loop = asyncio.get_running_loop()
        r = loop.run_in_executor(None, restart)
        results = await asyncio.gather(produce(), r,
                                       *(receive(ws) for ws in clients))
        for ws in clients:
            await ws.close()
        return results[2:]
    got = run(go())
    rows = stored(c.dsn)
    ids = [i for i, _ in rows]
    assert len(ids) > 50
    assert errors, "the restart did not interrupt anything"
    for g in got:
        check_exactly_once(g, ids)


# --- the AsyncAPI document ---------------------------------------------------

def test_asyncapi_document_is_served_and_matches_the_code(base_url):
    r = requests.get(base_url + "/asyncapi.json", timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json; charset=utf-8"
    doc = r.json()
    repo = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    with open(os.path.join(repo, "docs", "asyncapi.json"), "rb") as f:
        assert json.loads(f.read()) == doc
    assert doc["asyncapi"].startswith("3.")
    assert doc["channels"]["ws"]["address"] == "/ws"
    # Every close code and reason the server sends is documented.
    src = ""
    for name in ("ws.c", "bus.c"):
        with open(os.path.join(repo, "src", "ws", name)) as f:
            src += f.read()
    sent = re.findall(r'ws_(?:close|drop)\(cl, (WS_CLOSE_\w+),\s*"([^"]+)"\)',
                      src)
    assert len(sent) >= 8
    codes = {"WS_CLOSE_GOING_AWAY": "1001", "WS_CLOSE_UNSUPPORTED": "1003",
             "WS_CLOSE_BAD_DATA": "1007", "WS_CLOSE_POLICY": "1008",
             "WS_CLOSE_TOO_BIG": "1009", "WS_CLOSE_ERROR": "1011"}
    documented = doc["components"]["schemas"]["CloseCodes"]["properties"]
    for const, reason in sent:
        entry = documented[codes[const]]
        assert reason in entry.get("enum", [entry.get("const")]), reason
    # And those Kore sends (patches/kore): 1001, 1002, 1003, 1009.
    kore = ""
    pdir = os.path.join(repo, "patches", "kore")
    for name in sorted(os.listdir(pdir)):
        with open(os.path.join(pdir, name)) as f:
            kore += "".join(line[1:] for line in f if line.startswith("+"))
    sent = re.findall(r'(?:websocket_fail|kore_websocket_close)\(c,\s*'
                      r'WEBSOCKET_CLOSE_(\w+),\s*"([^"]+)"\)', kore)
    assert len(sent) >= 12, sent
    codes = {"GOING_AWAY": "1001", "PROTOCOL": "1002",
             "UNSUPPORTED": "1003", "TOO_BIG": "1009"}
    for const, reason in sent:
        entry = documented[codes[const]]
        assert reason in entry.get("enum", [entry.get("const")]), reason
    # The messages the server sends validate against their schemas.
    import jsonschema
    schemas = doc["components"]["schemas"]
    jsonschema.validate({"type": "reset"}, schemas["Reset"])
    for ex in schemas["Message"]["examples"]:
        jsonschema.validate(ex, schemas["Message"])
