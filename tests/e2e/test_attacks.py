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
