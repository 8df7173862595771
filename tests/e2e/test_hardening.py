# userapi: end-to-end tests of hardening: security headers, rate limits, /metrics, drain, slow clients.

import re
import socket
import subprocess
import time

import pytest
import requests

from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, unique_email


# --- security headers -------------------------------------------------------

def _common_headers(r):
    assert r.headers.get("X-Content-Type-Options") == "nosniff", r.headers
    assert r.headers.get("Referrer-Policy") == "no-referrer", r.headers
    # plain HTTP: no HSTS
    assert "Strict-Transport-Security" not in r.headers, r.headers


def test_security_headers_on_api_answers(http, base_url, auth):
    answers = [
        http.get(base_url + "/healthz"),
        http.get(base_url + "/users/me"),
        http.get(base_url + "/users?limit=1"),
        requests.get(base_url + "/users/me", timeout=5),          # 401
        http.get(base_url + "/no/such/route"),                    # 404
        http.delete(base_url + "/token"),                         # 405
        http.post(base_url + "/users", json={"name": ""}),        # 422
        requests.post(base_url + "/token", timeout=30, data={
            "username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
    ]
    for r in answers:
        _common_headers(r)
        # tokens and user data: never stored by a cache
        assert r.headers.get("Cache-Control") == "no-store", (
            r.request.method, r.url, r.status_code, r.headers)
        # each header once (Kore appends, never replaces)
        raw = r.raw.headers
        for name in ("x-content-type-options", "referrer-policy",
                     "cache-control"):
            assert len(raw.getlist(name)) == 1, (r.url, name, raw)


def test_security_headers_on_pages_keep_csp(base_url):
    r = requests.get(base_url + "/docs", timeout=5)
    assert r.status_code == 200
    _common_headers(r)
    assert "default-src" in r.headers["Content-Security-Policy"]
    # the pages' own cache rule stays (they carry no user data)
    assert r.headers["Cache-Control"] != ""
    assert len(r.raw.headers.getlist("cache-control")) == 1
    r = requests.get(base_url + "/openapi.json", timeout=5)
    _common_headers(r)


# --- rate limits ------------------------------------------------------------

def _limited(r, cls, q, w):
    assert r.headers["RateLimit-Policy"] == '"%s";q=%d;w=%d' % (cls, q, w)
    m = re.match(r'^"%s";r=(\d+);t=(\d+)$' % cls, r.headers["RateLimit"])
    assert m, r.headers["RateLimit"]
    return int(m.group(1)), int(m.group(2))


def test_rate_limit_strict_class(extra, dsn):
    svc = extra.service(extra.database(), RATE_LIMIT_STRICT="3/60",
                        RATE_LIMIT_GENERAL="0")
    url = svc.url + "/token"
    left = []
    for _ in range(3):
        # a form without fields: refused by the handler, after the limiter
        r = requests.post(url, data={"x": "1"}, timeout=10)
        assert r.status_code == 422, r.text
        left.append(_limited(r, "login", 3, 60)[0])
    assert left == [2, 1, 0]
    r = requests.post(url, data={"x": "1"}, timeout=10)
    assert r.status_code == 429, r.text
    assert r.json() == {"detail": "Too Many Requests"}
    assert 1 <= int(r.headers["Retry-After"]) <= 20
    assert _limited(r, "login", 3, 60) [0] == 0
    assert r.headers["Cache-Control"] == "no-store"
    # sign-up is another class, with its own bucket
    r = requests.post(svc.url + "/users", json={}, timeout=10)
    assert r.status_code == 422
    assert _limited(r, "signup", 3, 60)[0] == 2
    # general routes are off (0), probes are never limited
    r = requests.get(svc.url + "/users/me", timeout=10)
    assert r.status_code == 401
    assert "RateLimit" not in r.headers
    for _ in range(5):
        r = requests.get(svc.url + "/healthz", timeout=10)
        assert r.status_code == 200 and "RateLimit" not in r.headers
    # the refusals are counted
    text = requests.get(svc.url + "/metrics", timeout=10).text
    assert 'userapi_rate_limited_total{class="login"} 1\n' in text


def test_rate_limit_general_class(extra):
    svc = extra.service(extra.database(), RATE_LIMIT_STRICT="0",
                        RATE_LIMIT_GENERAL="2/10")
    codes = [requests.get(svc.url + "/users/me", timeout=10).status_code
             for _ in range(3)]
    assert codes == [401, 401, 429]
    r = requests.get(svc.url + "/openapi.json", timeout=10)
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) <= 5
    assert requests.post(svc.url + "/token", data={"x": "1"},
                         timeout=10).status_code == 422


def test_forwarded_for_only_from_trusted_proxies(extra):
    db = extra.database()
    proxied = extra.service(db, RATE_LIMIT_STRICT="1/60",
                            TRUSTED_PROXIES="10.9.0.0/16, 127.0.0.1/32")
    direct = extra.service(db, RATE_LIMIT_STRICT="1/60",
                           TRUSTED_PROXIES="10.9.0.0/16")

    def login(svc, xff):
        h = {"X-Forwarded-For": xff} if xff else {}
        return requests.post(svc.url + "/token", data={"x": "1"},
                             headers=h, timeout=10).status_code

    # behind a trusted proxy: one bucket per forwarded client
    assert login(proxied, "198.51.100.1") == 422
    assert login(proxied, "198.51.100.1") == 429
    assert login(proxied, "198.51.100.2") == 422
    # the right-most untrusted hop counts: a forged left part changes nothing
    assert login(proxied, "203.0.113.9, 198.51.100.1") == 429
    assert login(proxied, "203.0.113.9, 198.51.100.1, 10.9.1.1") == 429
    assert login(proxied, "198.51.100.3, 10.9.1.1") == 422
    # a hop that is no address: the trusted proxy that sent it is the client
    assert login(proxied, "junk") == 422
    assert login(proxied, "junk") == 429
    # an untrusted peer cannot choose its bucket with the header
    assert login(direct, "198.51.100.1") == 422
    assert login(direct, "198.51.100.2") == 429
    assert login(direct, None) == 429


def test_rate_limit_flood_of_addresses_stays_bounded(extra):
    svc = extra.service(extra.database(), RATE_LIMIT_STRICT="1/60",
                        RATE_LIMIT_TABLE="64", TRUSTED_PROXIES="127.0.0.1")
    with requests.Session() as s:
        for i in range(600):
            r = s.post(svc.url + "/token", data={"x": "1"}, timeout=10,
                       headers={"X-Forwarded-For": "10.%d.%d.1" % (
                           i // 256, i % 256)})
            assert r.status_code == 422, (i, r.status_code)
    text = requests.get(svc.url + "/metrics", timeout=10).text
    ev = int(re.search(r"^userapi_rate_limit_evictions_total (\d+)$", text,
                       re.M).group(1))
    # 600 live buckets through 64 slots: the table kept its size and
    # took over the oldest (the memory is mapped once, at start-up)
    assert ev >= 600 - 64, ev
    assert requests.get(svc.url + "/healthz", timeout=5).status_code == 200


# --- /metrics ---------------------------------------------------------------

def test_metrics_pass_promtool(http, base_url, tmp_path):
    http.get(base_url + "/healthz")
    http.get(base_url + "/users/me")
    http.get(base_url + "/no/such/route")
    http.get(base_url + "/users/not-a-uuid")
    r = requests.get(base_url + "/metrics", timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = r.text
    for want in (
            r'userapi_http_requests_total\{route="/healthz",code="200"\} [1-9]',
            r'userapi_http_requests_total\{route="/users/me",code="200"\} [1-9]',
            r'userapi_http_requests_total\{route="/users/\{id\}",code="422"\} [1-9]',
            r'userapi_http_requests_total\{route="none",code="404"\} [1-9]',
            r'userapi_http_request_duration_seconds_bucket\{route="/healthz",le="\+Inf"\} [1-9]',
            r'userapi_http_request_duration_seconds_count\{route="/healthz"\} [1-9]',
            r'userapi_db_connections\{state="open"\} [1-9]',
            r'userapi_db_queue_depth \d+',
            r'userapi_background_jobs_running\{kind="password"\} \d+',
            r'userapi_rate_limited_total\{class="login"\} 0',
            r'userapi_login_lockouts_total \d+',
            r'userapi_build_info\{version="[^"]+"\} 1'):
        assert re.search("^" + want + "$", text, re.M), (want, text)
    f = tmp_path / "metrics.txt"
    f.write_text(text)
    proc = subprocess.run(["promtool", "check", "metrics"], stdin=open(f),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout


def test_metrics_allow(extra):
    db = extra.database()
    closed = extra.service(db, METRICS_ALLOW="192.0.2.0/24, 2001:db8::/32")
    r = requests.get(closed.url + "/metrics", timeout=10)
    assert r.status_code == 403
    assert r.json() == {"detail": "Forbidden"}
    opened = extra.service(db, METRICS_ALLOW="192.0.2.0/24, 127.0.0.0/8")
    r = requests.get(opened.url + "/metrics", timeout=10)
    assert r.status_code == 200
    assert "userapi_build_info" in r.text
