# userapi: e2e: attacks that once hurt the service (memory, rate-limit evasion), kept as regressions.
"""
Each test here reproduces an attack that worked against an earlier build:
a worker's memory grown without bound by one client, a rate limit evaded
through a trusted proxy. They fail on that build and pass now.
"""

import os
import socket
import time

import requests

from test_ws import RawWS, account

TIMEOUT = 10


def rss_kib(pid):
    """Resident set size of process pid, in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def workers_rss_kib(svc):
    from conftest import children_of
    return sum(rss_kib(pid) for pid in children_of(svc.proc.pid))


def test_ws_ping_flood_of_a_client_that_never_reads(extra, dsn):
    """A client that sends pings and never reads its pongs: the worker's
    memory stays bounded (every ping used to queue a pong, forever)."""
    svc = extra.service(dsn, WORKERS=1)
    u = account(svc.url)
    ws = RawWS(svc.url, u["token"], rcvbuf=4096)
    assert ws.status == 101
    before = workers_rss_kib(svc)
    # 125-byte pings, masked with a zero key: 40 MB of them.
    frame = bytes([0x89, 0x80 | 125]) + b"\0\0\0\0" + b"p" * 125
    blob = frame * 2000
    ws.sock.settimeout(30)
    for _ in range(160):
        ws.sock.sendall(blob)
    # Everything sent has been read once a request behind it is answered.
    r = requests.get(svc.url + "/healthz", timeout=TIMEOUT)
    assert r.status_code == 200
    deadline = time.monotonic() + 20
    while True:
        grown = workers_rss_kib(svc) - before
        if grown < 16 * 1024 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    ws.close()
    assert grown < 16 * 1024, "worker grew by %d KiB" % grown


def test_forged_forwarded_for_lines_before_the_proxys_own(extra):
    """A proxy that adds its own X-Forwarded-For line (HAProxy's
    forwardfor) puts it last: a client's many lines in front of it do
    not choose the bucket (the first 8 lines used to be read)."""
    svc = extra.service(extra.database(), RATE_LIMIT_STRICT="1/60",
                        TRUSTED_PROXIES="127.0.0.1/32")

    def login(n, client):
        lines = "".join("X-Forwarded-For: 203.0.113.%d\r\n" % (n * 10 + i)
                        for i in range(9))
        req = ("POST /token HTTP/1.1\r\nHost: x\r\n%s"
               "X-Forwarded-For: %s\r\n"
               "Content-Type: application/x-www-form-urlencoded\r\n"
               "Content-Length: 3\r\nConnection: close\r\n\r\nx=1"
               % (lines, client))
        with socket.create_connection(("127.0.0.1", svc.port),
                                      timeout=TIMEOUT) as s:
            s.sendall(req.encode())
            out = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                out += b
        return int(out.split(b" ", 2)[1])

    assert login(1, "198.51.100.7") == 422
    assert login(2, "198.51.100.7") == 429
    assert login(3, "198.51.100.8") == 422


def test_ipv6_clients_of_one_64_share_a_bucket(extra):
    """A client with an IPv6 /64 has 2^64 addresses: rotating them gave a
    fresh bucket per request. Buckets are per /64 now; IPv4 per address."""
    svc = extra.service(extra.database(), RATE_LIMIT_STRICT="1/60",
                        TRUSTED_PROXIES="127.0.0.1/32")

    def login(client):
        return requests.post(svc.url + "/token", data={"x": "1"},
                             headers={"X-Forwarded-For": client},
                             timeout=TIMEOUT).status_code

    assert login("2001:db8:1:2::1") == 422
    assert login("2001:db8:1:2:ffff::9") == 429
    assert login("[2001:db8:1:2::abcd]:443") == 429
    assert login("2001:db8:1:3::1") == 422
    assert login("198.51.100.20") == 422
    assert login("198.51.100.21") == 422
    assert login("::ffff:198.51.100.20") == 429


def raw_exchange(svc, data):
    """Send data on a new connection; everything read until the server
    closes it."""
    with socket.create_connection(("127.0.0.1", svc.port),
                                  timeout=TIMEOUT) as s:
        s.sendall(data)
        out = b""
        while True:
            b = s.recv(65536)
            if not b:
                return out
            out += b


def test_absolute_form_request_target(main_service, auth):
    """RFC 9112 3.2.2: a server MUST accept the absolute form (it was an
    empty 404)."""
    out = raw_exchange(main_service, (
        b"GET http://example.com/healthz HTTP/1.1\r\nHost: example.com\r\n"
        b"Connection: close\r\n\r\n"))
    assert out.startswith(b"HTTP/1.1 200 "), out
    assert out.endswith(b'{"status":"ok"}'), out
    out = raw_exchange(main_service, (
        b"GET HTTPS://example.com:8443/users/me?x=1 HTTP/1.1\r\n"
        b"Host: example.com\r\nAuthorization: %s\r\n"
        b"Connection: close\r\n\r\n" % auth["Authorization"].encode()))
    assert out.startswith(b"HTTP/1.1 200 "), out
    assert b'"email":"admin@' in out, out
    for target in (b"http://example.com", b"http://example.com?a=b"):
        out = raw_exchange(main_service, (
            b"GET %s HTTP/1.1\r\nHost: example.com\r\n"
            b"Connection: close\r\n\r\n" % target))
        assert out.startswith(b"HTTP/1.1 200 "), out
        assert b"text/html" in out, out


def test_http10_put_and_delete_reach_the_routes(main_service, auth,
                                                user_factory):
    """HTTP/1.0 PUT, PATCH and DELETE reach the routes (Kore answered an
    empty 405 without Allow before looking at the route)."""
    out = raw_exchange(main_service,
                       b"PUT /healthz HTTP/1.0\r\nHost: x\r\n"
                       b"Content-Length: 0\r\n\r\n")
    assert out.startswith(b"HTTP/1.0 405 "), out
    assert b"\r\nallow: GET, HEAD\r\n" in out, out
    assert out.endswith(b'{"detail":"Method Not Allowed"}'), out
    user = user_factory()
    body = b'{"age": 42}'
    out = raw_exchange(main_service, (
        b"PATCH /users/%s HTTP/1.0\r\nHost: x\r\nAuthorization: %s\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
        % (user["id"].encode(), auth["Authorization"].encode(), len(body),
           body)))
    assert out.startswith(b"HTTP/1.0 200 "), out
    assert b'"age":42' in out, out
    out = raw_exchange(main_service, (
        b"DELETE /users/%s HTTP/1.0\r\nHost: x\r\nAuthorization: %s\r\n\r\n"
        % (user["id"].encode(), auth["Authorization"].encode())))
    assert out.startswith(b"HTTP/1.0 204 "), out
