# userapi: end-to-end tests of hardening: security headers, rate limits, /metrics, drain, slow clients.

import socket
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
