# userapi: end-to-end tests of authentication: logins, bearer tokens, forged tokens, revocation, lockout, admins.

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import statistics
import subprocess
import threading
import time
import uuid
from urllib.parse import quote, quote_plus

import pytest
import requests

from conftest import (ADMIN_EMAIL, ADMIN_PASSWORD, BIN, JSON_CT, Extras,
                      base_env, errors, free_port, psql, record_cli, run_bin,
                      unique_email)

# The key every instance of this session signs with (the harness sets it).
SECRET = base_env()["JWT_SECRET"].encode()

BAD_LOGIN = {"detail": "Incorrect username or password"}
NOT_AUTH = {"detail": "Not authenticated"}
INVALID = {"detail": "Invalid token"}
NOT_FOUND = {"detail": "User not found"}
FORBIDDEN = {"detail": "Not enough permissions"}
WRONG_CURRENT = {"detail": "Incorrect password"}
FORM = "application/x-www-form-urlencoded"
TIMEOUT = 30

# Argon2id PHC string with the default parameters, a 16-byte salt and a
# 32-byte key (unpadded standard base64).
PHC_DEFAULT = re.compile(r"^\$argon2id\$v=19\$m=19456,t=2,p=1\$"
                         r"[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$")


# --- JWTs built by hand ------------------------------------------------------

def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def seg(obj):
    return b64u(json.dumps(obj, separators=(",", ":")).encode())


HS256 = {"alg": "HS256", "typ": "JWT"}


def jwt(claims, header=HS256, key=SECRET, digest=hashlib.sha256, sig=None):
    """A compact JWS; signed with HMAC(key, digest) unless sig is given."""
    head = seg(header) if isinstance(header, dict) else header
    body = seg(claims) if isinstance(claims, dict) else claims
    signing = (head + "." + body).encode()
    if sig is None:
        sig = b64u(hmac.new(key, signing, digest).digest())
    return head + "." + body + "." + sig


def jwt_decode(token):
    """(header, claims) of a token, after checking its HS256 signature."""
    head, body, sig = token.split(".")
    want = hmac.new(SECRET, (head + "." + body).encode(),
                    hashlib.sha256).digest()
    assert hmac.compare_digest(unb64u(sig), want), "bad signature"
    return json.loads(unb64u(head)), json.loads(unb64u(body))


DROP = object()


def claims_of(who, **over):
    """Fresh, valid claims for who (sub, email, iss, tv); over changes them."""
    now = int(time.time())
    c = {"sub": who["id"], "email": who["email"], "iat": now,
         "exp": now + 600, "iss": who["iss"], "tv": who["tv"]}
    for k, v in over.items():
        if v is DROP:
            c.pop(k)
        else:
            c[k] = v
    return c


# --- requests ----------------------------------------------------------------

def bearer(token):
    return {"Authorization": "Bearer " + token}


def login(url, username, password, session=None, **form):
    data = {"username": username, "password": password}
    data.update(form)
    return (session or requests).post(url + "/token", data=data,
                                      timeout=TIMEOUT)


def token_of(url, email, password):
    r = login(url, email, password)
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()["access_token"]


def signup(url, password=None, email=None, name="Auth Test"):
    """Sign up (open to anyone); the user's JSON plus "password"."""
    body = {"name": name, "email": email or unique_email("auth")}
    if password is not None:
        body["password"] = password
    r = requests.post(url + "/users", json=body, timeout=TIMEOUT)
    assert r.status_code == 201, (r.status_code, r.text)
    user = r.json()
    user["password"] = password
    return user


def new_password():
    return "pw-" + secrets.token_hex(8)


def account(url, password=None):
    """A user with a password and a token: its JSON, "password", "token"."""
    user = signup(url, password or new_password())
    user["token"] = token_of(url, user["email"], user["password"])
    return user


def me(url, token):
    return requests.get(url + "/users/me", headers=bearer(token),
                        timeout=TIMEOUT)


def check_401(r, body):
    assert r.status_code == 401, (r.status_code, r.text)
    assert r.headers["Content-Type"] == JSON_CT
    assert r.json() == body
    assert r.headers.get("WWW-Authenticate") == "Bearer", r.headers
    assert "access_token" not in r.text


def check_error(r, status, body):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"] == JSON_CT
    assert r.json() == body


def check_locked(r):
    """429 of the lockout: Retry-After in seconds, about 15 minutes."""
    assert r.status_code == 429, (r.status_code, r.text)
    assert r.headers["Content-Type"] == JSON_CT
    ra = r.headers.get("Retry-After", "")
    assert ra.isdigit() and 850 <= int(ra) <= 900, ra
    body = r.json()
    assert list(body) == ["detail"] and isinstance(body["detail"], str), body
    assert "access_token" not in r.text
    return body


def check_revoked(url, token):
    """Every route that takes a token refuses this one: 401 Invalid token.
    Several times each, so every worker (and its token cache) answers."""
    sub = jwt_decode(token)[1]["sub"]
    for _ in range(3):
        check_401(me(url, token), INVALID)
        check_401(requests.get(url + "/protected", headers=bearer(token),
                               timeout=TIMEOUT), INVALID)
    check_401(requests.get(url + "/users/" + sub, headers=bearer(token),
                           timeout=TIMEOUT), INVALID)
    check_401(requests.patch(url + "/users/" + sub, headers=bearer(token),
                             json={"name": "Revoked"}, timeout=TIMEOUT),
              INVALID)
    check_401(requests.post(url + "/users/me/password", headers=bearer(token),
                            json={"current_password": "whatever-1",
                                  "new_password": "whatever-2"},
                            timeout=TIMEOUT), INVALID)


def check_works(url, token, user_id):
    for _ in range(3):
        r = me(url, token)
        assert r.status_code == 200, (r.status_code, r.text)
        assert r.json()["id"] == user_id


def clear_attempts(dsn, *emails):
    for e in emails:
        psql(dsn, "DELETE FROM login_attempts WHERE email_key = lower(:'e')",
             e=e)


def no_secret_in(text, words, where):
    for w in words:
        for form in {w, quote_plus(w), quote(w, safe="")}:
            assert form not in text, "%s carries %r" % (where, form)
    assert "$argon2id$" not in text, "%s carries a hash" % where
    assert "argon2id$v=" not in text, "%s carries a hash" % where


# --- fixtures ----------------------------------------------------------------

@pytest.fixture(scope="module")
def victim(base_url):
    """A user whose token the forging tests imitate."""
    user = account(base_url)
    head, claims = jwt_decode(user["token"])
    user["iss"] = claims["iss"]
    user["tv"] = claims["tv"]
    return user


@pytest.fixture(scope="module")
def admin_claims(main_service):
    _, claims = jwt_decode(main_service.token)
    return {"id": claims["sub"], "email": claims["email"],
            "iss": claims["iss"], "tv": claims["tv"]}


@pytest.fixture(scope="module")
def pair(session_dir, migrated):
    """Two instances on one fresh database (both with the admin)."""
    ex = Extras(session_dir, migrated, "test_auth_pair")
    try:
        db = ex.database()
        a = ex.service(db, admin=True)
        b = ex.service(db, admin=True)
        yield a, b, db
    finally:
        ex.close()
    for svc in ex.services:
        bad = svc.bad_lines()
        assert not bad, "%s log shows trouble:\n%s" % (svc.name,
                                                       "\n".join(bad))


# --- POST /token -------------------------------------------------------------

def test_token_success(base_url):
    pw = new_password()
    user = signup(base_url, pw)
    before = int(time.time())
    r = login(base_url, user["email"], pw)
    after = int(time.time())
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == JSON_CT
    assert r.headers["Cache-Control"] == "no-store"
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 1800

    head, claims = jwt_decode(body["access_token"])	# HS256, our key
    assert head["alg"] == "HS256"
    assert set(claims) == {"sub", "email", "iat", "exp", "iss", "tv"}
    assert claims["sub"] == user["id"]
    assert claims["email"] == user["email"]
    assert before - 1 <= claims["iat"] <= after + 1
    assert claims["exp"] - claims["iat"] == 1800
    assert isinstance(claims["iss"], str) and claims["iss"]
    assert isinstance(claims["tv"], int) and claims["tv"] >= 1

    check_works(base_url, body["access_token"], user["id"])


@pytest.mark.parametrize("extra_form", [
    {"grant_type": "password"},
    {"grant_type": "password", "scope": "read write"},
    {"scope": ""},
], ids=["grant-type", "grant-and-scope", "empty-scope"])
def test_token_optional_fields(base_url, victim, extra_form):
    r = login(base_url, victim["email"], victim["password"], **extra_form)
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "bearer"
    assert r.headers["Cache-Control"] == "no-store"


def test_token_form_with_charset_parameter(base_url, victim):
    r = requests.post(base_url + "/token", timeout=TIMEOUT,
                      headers={"Content-Type": FORM + "; charset=UTF-8"},
                      data="username=%s&password=%s" % (
                          quote_plus(victim["email"]),
                          quote_plus(victim["password"])))
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("grant", ["client_credentials", "refresh_token",
                                   "authorization_code", "implicit"])
def test_token_other_grant_type_is_400(base_url, victim, grant):
    r = login(base_url, victim["email"], victim["password"], grant_type=grant)
    assert r.status_code == 400, (r.status_code, r.text)
    assert r.headers["Content-Type"] == JSON_CT
    body = r.json()
    assert body["error"] == "unsupported_grant_type", body
    assert "access_token" not in body


@pytest.mark.parametrize("how", ["json", "text", "multipart", "none"])
def test_token_only_form_encoded(base_url, victim, how):
    creds = {"username": victim["email"], "password": victim["password"]}
    url = base_url + "/token"
    if how == "json":
        r = requests.post(url, json=creds, timeout=TIMEOUT)
    elif how == "text":
        r = requests.post(url, timeout=TIMEOUT,
                          headers={"Content-Type": "text/plain"},
                          data="username=%s&password=%s" % (
                              quote_plus(victim["email"]),
                              quote_plus(victim["password"])))
    elif how == "multipart":
        r = requests.post(url, files={k: (None, v) for k, v in creds.items()},
                          timeout=TIMEOUT)
    else:
        r = requests.post(url, timeout=TIMEOUT, data=(
            "username=%s&password=%s" % (quote_plus(victim["email"]),
                                         quote_plus(victim["password"]))
        ).encode())
        assert "Content-Type" not in r.request.headers
    assert r.status_code == 415, (r.status_code, r.text)
    assert r.headers["Content-Type"] == JSON_CT
    assert "access_token" not in r.text
    assert isinstance(r.json()["detail"], str)


def test_token_missing_fields_are_422(base_url):
    r = requests.post(base_url + "/token", data={"grant_type": "password"},
                      timeout=TIMEOUT)
    assert sorted(errors(r)) == [("missing", ("body", "password")),
                                 ("missing", ("body", "username"))]
    r = requests.post(base_url + "/token", data={"username": "a@example.com"},
                      timeout=TIMEOUT)
    assert errors(r) == [("missing", ("body", "password"))]


def test_token_domain_is_case_insensitive(base_url):
    pw = new_password()
    user = signup(base_url, pw, email=unique_email("Case", "Example.ORG"))
    local, domain = user["email"].split("@")
    assert domain == "example.org"
    for name in (user["email"], local + "@EXAMPLE.ORG", local + "@eXaMpLe.OrG"):
        r = login(base_url, name, pw)
        assert r.status_code == 200, (name, r.text)
        token = r.json()["access_token"]
        assert jwt_decode(token)[1]["email"] == user["email"]
        g = requests.get(base_url + "/protected", headers=bearer(token),
                         timeout=TIMEOUT)
        assert g.json() == {"username": user["email"],
                            "message": "Access granted"}


def test_token_password_with_form_special_characters(base_url):
    pw = "p@ss w+rd&x=1%41;é€"
    user = signup(base_url, pw)
    assert login(base_url, user["email"], pw).status_code == 200
    # Near misses: what a sloppy form decoder would turn into pw.
    for wrong in ("p@ss w rd&x=1%41;é€", "p@ss w+rd&x=1A;é€", "p@ss w+rd"):
        check_401(login(base_url, user["email"], wrong), BAD_LOGIN)
    raw = "username=%s&password=%s" % (quote_plus(user["email"]),
                                       quote(pw, safe=""))
    r = requests.post(base_url + "/token", data=raw, timeout=TIMEOUT,
                      headers={"Content-Type": FORM})
    assert r.status_code == 200, r.text


def test_token_nul_and_truncation_do_not_match(base_url, dsn):
    pw = new_password()
    user = signup(base_url, pw)
    for tail in ("%00", "%00junk", "x"):
        raw = "username=%s&password=%s%s" % (quote_plus(user["email"]),
                                             quote_plus(pw), tail)
        r = requests.post(base_url + "/token", data=raw, timeout=TIMEOUT,
                          headers={"Content-Type": FORM})
        check_401(r, BAD_LOGIN)
    check_401(login(base_url, user["email"], pw[:-1]), BAD_LOGIN)
    clear_attempts(dsn, user["email"])
    check_401(login(base_url, user["email"], pw + "y" * 2000), BAD_LOGIN)
    assert login(base_url, user["email"], pw).status_code == 200


def test_login_failures_all_answer_alike(base_url, http, dsn, main_log):
    """Wrong password, unknown e-mail, no password, inactive: one answer,
    the reason in the log, never the password."""
    pw = new_password()
    wrong = "wrong-" + secrets.token_hex(8)
    known = signup(base_url, pw)
    nopw = signup(base_url)
    inactive = signup(base_url, pw)
    r = http.patch(base_url + "/users/" + inactive["id"],
                   json={"is_active": False})
    assert r.status_code == 200 and r.json()["is_active"] is False, r.text
    unknown = unique_email("nobody")

    cases = [(known["email"], wrong), (unknown, wrong), (unknown, pw),
             (nopw["email"], wrong), (nopw["email"], ""),
             (inactive["email"], pw), (inactive["email"], wrong)]
    shapes = set()
    for email, password in cases:
        r = login(base_url, email, password)
        check_401(r, BAD_LOGIN)
        shapes.add((r.text, tuple(sorted(
            k.lower() for k in r.headers if k.lower() not in
            ("date", "x-request-id")))))
    assert len(shapes) == 1, shapes

    reasons = {}
    for email in (known["email"], unknown, nopw["email"], inactive["email"]):
        line = main_log.wait_for("login failed for %s" % email)
        reasons[email] = line.split("login failed for %s" % email, 1)[1]
    # A reason each, and four different ones.
    assert len(set(reasons.values())) == 4, reasons
    assert "password" in reasons[known["email"]]
    assert "inactive" in reasons[inactive["email"]]
    no_secret_in(main_log.text(), [pw, wrong], "the log")


def test_login_time_does_not_tell_which_failure(base_url, http, dsn):
    """Unknown e-mail, wrong password, no password and inactive user: the
    medians over many tries are within a factor 2 of each other."""
    pw = new_password()
    known = signup(base_url, pw)
    nopw = signup(base_url)
    inactive = signup(base_url, pw)
    assert http.patch(base_url + "/users/" + inactive["id"],
                      json={"is_active": False}).status_code == 200
    kinds = {
        "wrong password": lambda: known["email"],
        "no password": lambda: nopw["email"],
        "inactive": lambda: inactive["email"],
        "unknown": lambda: unique_email("ghost"),
    }
    times = {k: [] for k in kinds}
    rounds = 20
    with requests.Session() as s:
        login(base_url, unique_email("warmup"), "x" * 10, session=s)
        for i in range(rounds):
            if i % 4 == 0:
                clear_attempts(dsn, known["email"], nopw["email"],
                               inactive["email"])
            order = list(kinds)
            order = order[i % 4:] + order[:i % 4]
            for kind in order:
                email = kinds[kind]()
                t0 = time.perf_counter()
                r = login(base_url, email, "not-" + pw, session=s)
                times[kind].append(time.perf_counter() - t0)
                check_401(r, BAD_LOGIN)
    med = {k: statistics.median(v) for k, v in times.items()}
    print("median login times:", {k: round(v * 1000, 1)
                                  for k, v in med.items()})
    assert max(med.values()) <= 2 * min(med.values()), med
    # The dummy verify is real work, not a shortcut (>= 2 ms).
    assert min(med.values()) >= 0.002, med


# --- bearer tokens: the header -----------------------------------------------

@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_bearer_scheme_is_case_insensitive(base_url, victim, scheme):
    r = requests.get(base_url + "/users/me", timeout=TIMEOUT,
                     headers={"Authorization": scheme + " " + victim["token"]})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == victim["id"]


@pytest.mark.parametrize("value", [
    "Bearer", "Bearer ", "Basic dXNlcjpwYXNzd29yZA==", "Token {t}",
    "Bearer{t}", "JWT {t}", "Digest {t}", "{t}",
], ids=["bearer-alone", "bearer-space", "basic", "token-scheme",
        "no-space", "jwt-scheme", "digest", "bare-token"])
def test_no_bearer_token_is_not_authenticated(base_url, victim, value):
    r = requests.get(base_url + "/users/me", timeout=TIMEOUT,
                     headers={"Authorization": value.format(t=victim["token"])})
    check_401(r, NOT_AUTH)


def test_token_in_query_string_does_not_authenticate(base_url, victim):
    for path in ("/users/me", "/protected", "/users/" + victim["id"]):
        r = requests.get(base_url + path, timeout=TIMEOUT,
                         params={"access_token": victim["token"]})
        check_401(r, NOT_AUTH)


@pytest.mark.parametrize("value", [
    "Bearer {t} extra", "Bearer {t},", "Bearer {t}x", "Bearer x{t}",
    "Bearer " + "a" * 5000, "Bearer garbage",
], ids=["trailing-word", "trailing-comma", "suffix", "prefix", "huge",
        "garbage"])
def test_bad_bearer_token_is_invalid(base_url, victim, value):
    r = requests.get(base_url + "/users/me", timeout=TIMEOUT,
                     headers={"Authorization": value.format(t=victim["token"])})
    check_401(r, INVALID)


# --- every route that needs a token: the 401s --------------------------------

ROUTES = [
    ("GET", "/users", None),
    ("GET", "/users/me", None),
    ("GET", "/protected", None),
    ("POST", "/users/me/password",
     {"current_password": "current-pw", "new_password": "new-password"}),
    ("GET", "/users/{id}", None),
    ("PUT", "/users/{id}", {"name": "Nobody", "email": "nobody@example.com"}),
    ("PATCH", "/users/{id}", {"name": "Nobody"}),
    ("DELETE", "/users/{id}", None),
]


@pytest.mark.parametrize("method, path, body", ROUTES,
                         ids=["%s %s" % (m, p) for m, p, _ in ROUTES])
@pytest.mark.parametrize("authz, expect", [
    (None, NOT_AUTH),
    ("Basic YWRtaW46YWRtaW4=", NOT_AUTH),
    ("Bearer not-a-token", INVALID),
    ("Bearer expired", INVALID),
    ("Bearer other-key", INVALID),
], ids=["none", "basic", "garbage", "expired", "other-key"])
def test_routes_need_a_valid_token(base_url, http, victim, method, path, body,
                                   authz, expect):
    headers = {}
    if authz == "Bearer expired":
        authz = "Bearer " + jwt(claims_of(
            victim, iat=int(time.time()) - 3600, exp=int(time.time()) - 60))
    elif authz == "Bearer other-key":
        authz = "Bearer " + jwt(claims_of(victim), key=os.urandom(32))
    if authz is not None:
        headers["Authorization"] = authz
    r = requests.request(method, base_url + path.format(id=victim["id"]),
                         json=body, headers=headers, timeout=TIMEOUT)
    check_401(r, expect)
    g = http.get(base_url + "/users/" + victim["id"])
    assert g.status_code == 200 and g.json()["name"] == "Auth Test", g.text


# --- forged tokens -----------------------------------------------------------

def _flip_middle(token):
    head, body, sig = token.split(".")
    i = len(sig) // 2
    c = "A" if sig[i] != "A" else "B"
    return head + "." + body + "." + sig[:i] + c + sig[i + 1:]


def _swap_payload(v):
    good = jwt(claims_of(v))
    head, _, sig = good.split(".")
    return head + "." + seg(claims_of(v, email="evil@example.com")) + "." + sig


def _none(v, alg="none", sig=""):
    return jwt(claims_of(v), {"alg": alg, "typ": "JWT"}, sig=sig)


now = lambda: int(time.time())		# noqa: E731

FORGED = {
    "alg-none": lambda v: _none(v),
    "alg-none-two-parts": lambda v: _none(v).rstrip("."),
    "alg-None": lambda v: _none(v, "None"),
    "alg-NONE": lambda v: _none(v, "NONE"),
    "alg-none-with-signature": lambda v: jwt(
        claims_of(v), {"alg": "none", "typ": "JWT"}),
    "alg-missing": lambda v: jwt(claims_of(v), {"typ": "JWT"}),
    "alg-empty": lambda v: jwt(claims_of(v), {"alg": "", "typ": "JWT"}),
    "hs384-same-key": lambda v: jwt(claims_of(v), {"alg": "HS384", "typ": "JWT"},
                                    digest=hashlib.sha384),
    "hs512-same-key": lambda v: jwt(claims_of(v), {"alg": "HS512", "typ": "JWT"},
                                    digest=hashlib.sha512),
    "rs256-confusion": lambda v: jwt(claims_of(v), {"alg": "RS256", "typ": "JWT"}),
    "es256-confusion": lambda v: jwt(claims_of(v), {"alg": "ES256", "typ": "JWT"}),
    "ps256-confusion": lambda v: jwt(claims_of(v), {"alg": "PS256", "typ": "JWT"}),
    "sig-other-key": lambda v: jwt(claims_of(v), key=os.urandom(32)),
    "sig-key-prefix": lambda v: jwt(claims_of(v), key=SECRET[:31]),
    "sig-flipped": lambda v: _flip_middle(jwt(claims_of(v))),
    "sig-empty": lambda v: jwt(claims_of(v), sig=""),
    "sig-of-other-payload": _swap_payload,
    "truncated-sig": lambda v: jwt(claims_of(v))[:-8],
    "truncated-half": lambda v: (lambda t: t[:len(t) // 2])(jwt(claims_of(v))),
    "header-only": lambda v: jwt(claims_of(v)).split(".")[0],
    "two-parts": lambda v: ".".join(jwt(claims_of(v)).split(".")[:2]),
    "extra-segment": lambda v: jwt(claims_of(v)) + ".e30",
    "empty-parts": lambda v: "..",
    "not-base64": lambda v: "!!!.???.***",
    "header-not-json": lambda v: jwt(claims_of(v), b64u(b"hello")),
    "payload-not-json": lambda v: jwt(b64u(b"{not json")),
    "payload-array": lambda v: jwt(b64u(b"[1,2,3]")),
    "expired": lambda v: jwt(claims_of(v, iat=now() - 600, exp=now() - 5)),
    "expired-now": lambda v: jwt(claims_of(v, iat=now() - 600, exp=now())),
    "no-exp": lambda v: jwt(claims_of(v, exp=DROP)),
    "exp-string": lambda v: jwt(claims_of(v, exp=str(now() + 600))),
    "future-iat": lambda v: jwt(claims_of(v, iat=now() + 3600,
                                          exp=now() + 7200)),
    "no-iat": lambda v: jwt(claims_of(v, iat=DROP)),
    "wrong-iss": lambda v: jwt(claims_of(v, iss="evil")),
    "iss-other-case": lambda v: jwt(claims_of(v, iss=v["iss"].upper())),
    "iss-empty": lambda v: jwt(claims_of(v, iss="")),
    "no-iss": lambda v: jwt(claims_of(v, iss=DROP)),
    "no-tv": lambda v: jwt(claims_of(v, tv=DROP)),
    "tv-zero": lambda v: jwt(claims_of(v, tv=0)),
    "tv-next": lambda v: jwt(claims_of(v, tv=v["tv"] + 1)),
    "no-sub": lambda v: jwt(claims_of(v, sub=DROP)),
    "sub-not-uuid": lambda v: jwt(claims_of(v, sub="not-a-uuid")),
    "sub-unknown-user": lambda v: jwt(claims_of(v, sub=str(uuid.uuid4()))),
    "sub-number": lambda v: jwt(claims_of(v, sub=1)),
}


def test_hand_made_token_is_accepted(base_url, victim):
    """The control for the forgeries below: our HS256 with our claims."""
    token = jwt(claims_of(victim))
    check_works(base_url, token, victim["id"])
    r = requests.get(base_url + "/protected", headers=bearer(token),
                     timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.json() == {"username": victim["email"], "message": "Access granted"}


def test_remembered_token_still_expires(base_url, victim):
    """A token that was accepted (and remembered) stops at its exp."""
    exp = int(time.time()) + 2
    token = jwt(claims_of(victim, exp=exp))
    check_works(base_url, token, victim["id"])
    check_works(base_url, token, victim["id"])
    time.sleep(max(0.0, exp - time.time()) + 0.2)
    for _ in range(4):
        check_401(me(base_url, token), INVALID)


@pytest.mark.parametrize("name", list(FORGED))
def test_forged_token_is_invalid(base_url, victim, main_log, name):
    token = FORGED[name](victim)
    assert token != victim["token"]
    for path in ("/users/me", "/protected", "/users/me", "/protected"):
        r = requests.get(base_url + path, headers=bearer(token),
                         timeout=TIMEOUT)
        check_401(r, INVALID)


@pytest.mark.parametrize("forge", [
    lambda a: jwt(claims_of(a), {"alg": "none", "typ": "JWT"}, sig=""),
    lambda a: jwt(claims_of(a), {"alg": "HS512", "typ": "JWT"},
                  digest=hashlib.sha512),
    lambda a: jwt(claims_of(a), {"alg": "RS256", "typ": "JWT"}),
    lambda a: jwt(claims_of(a, iss="evil")),
], ids=["alg-none", "hs512", "rs256", "wrong-iss"])
def test_forged_admin_token_lists_nothing(base_url, admin_claims, forge):
    good = jwt(claims_of(admin_claims))
    r = requests.get(base_url + "/users?limit=1", headers=bearer(good),
                     timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    r = requests.get(base_url + "/users?limit=1",
                     headers=bearer(forge(admin_claims)), timeout=TIMEOUT)
    check_401(r, INVALID)


# --- authorisation -----------------------------------------------------------

def test_me_and_protected(base_url, victim):
    r = me(base_url, victim["token"])
    assert r.status_code == 200
    u = r.json()
    assert u["id"] == victim["id"] and u["email"] == victim["email"]
    assert "password" not in u and "password_hash" not in u
    r = requests.get(base_url + "/protected", headers=bearer(victim["token"]),
                     timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == JSON_CT
    assert r.json() == {"username": victim["email"], "message": "Access granted"}


def test_list_is_admins_only(base_url, http, victim):
    r = requests.get(base_url + "/users", headers=bearer(victim["token"]),
                     timeout=TIMEOUT)
    check_error(r, 403, FORBIDDEN)
    r = requests.get(base_url + "/users", params={"email": victim["email"]},
                     headers=bearer(victim["token"]), timeout=TIMEOUT)
    check_error(r, 403, FORBIDDEN)
    r = http.get(base_url + "/users", params={"email": victim["email"]})
    assert r.status_code == 200
    assert [u["id"] for u in r.json()] == [victim["id"]]


def test_other_users_are_not_found_for_a_non_admin(base_url, http):
    me_ = account(base_url)
    other = signup(base_url, new_password())
    before = http.get(base_url + "/users/" + other["id"])
    assert before.status_code == 200
    h = bearer(me_["token"])
    admin_id = jwt_decode(http.headers["Authorization"][7:])[1]["sub"]
    for target in (other["id"], str(uuid.uuid4()), admin_id):
        url = base_url + "/users/" + target
        check_error(requests.get(url, headers=h, timeout=TIMEOUT), 404,
                    NOT_FOUND)
        check_error(requests.put(url, headers=h, timeout=TIMEOUT,
                                 json={"name": "Taken", "email": unique_email()}),
                    404, NOT_FOUND)
        check_error(requests.patch(url, headers=h, timeout=TIMEOUT,
                                   json={"name": "Taken"}), 404, NOT_FOUND)
        check_error(requests.patch(url, headers=h, timeout=TIMEOUT,
                                   json={"is_admin": False}), 404, NOT_FOUND)
        check_error(requests.delete(url, headers=h, timeout=TIMEOUT), 404,
                    NOT_FOUND)
    after = http.get(base_url + "/users/" + other["id"])
    assert after.status_code == 200
    assert after.json() == before.json()
    assert after.headers["ETag"] == before.headers["ETag"]
    # The admin gets 404 only for what does not exist.
    check_error(http.get(base_url + "/users/" + str(uuid.uuid4())), 404,
                NOT_FOUND)


def test_self_may_read_replace_patch_and_delete(base_url):
    u = account(base_url)
    h = bearer(u["token"])
    url = base_url + "/users/" + u["id"]
    r = requests.get(url, headers=h, timeout=TIMEOUT)
    assert r.status_code == 200 and r.json()["id"] == u["id"]
    email = unique_email("self")
    r = requests.put(url, headers=h, timeout=TIMEOUT,
                     json={"name": "Self Put", "email": email, "age": 30})
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["email"], r.json()["age"]) == (
        "Self Put", email, 30)
    r = requests.patch(url, headers=h, timeout=TIMEOUT, json={"age": 31})
    assert r.status_code == 200 and r.json()["age"] == 31, r.text
    r = me(base_url, u["token"])
    assert r.status_code == 200 and r.json()["age"] == 31
    r = requests.delete(url, headers=h, timeout=TIMEOUT)
    assert r.status_code == 204 and r.content == b""
    check_revoked(base_url, u["token"])
    check_401(login(base_url, email, u["password"]), BAD_LOGIN)


@pytest.mark.parametrize("body", [
    {"is_admin": True}, {"is_admin": False}, {"is_active": False},
    {"is_active": True}, {"name": "Sneaky", "is_admin": True},
], ids=["admin-true", "admin-false", "active-false", "active-true",
        "name-and-admin"])
def test_non_admin_may_not_set_flags(base_url, http, victim, body):
    url = base_url + "/users/" + victim["id"]
    before = http.get(url)
    r = requests.patch(url, headers=bearer(victim["token"]), json=body,
                       timeout=TIMEOUT)
    check_error(r, 403, FORBIDDEN)
    after = http.get(url)
    assert after.json() == before.json()
    assert after.headers["ETag"] == before.headers["ETag"]
    check_works(base_url, victim["token"], victim["id"])


def test_admin_sets_the_role_and_the_database_decides(base_url, http):
    u = account(base_url)
    h = bearer(u["token"])
    check_error(requests.get(base_url + "/users", headers=h, timeout=TIMEOUT),
                403, FORBIDDEN)
    r = http.patch(base_url + "/users/" + u["id"], json={"is_admin": True})
    assert r.status_code == 200 and r.json()["is_admin"] is True, r.text
    r = requests.get(base_url + "/users", headers=h, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    r = http.patch(base_url + "/users/" + u["id"], json={"is_admin": False})
    assert r.status_code == 200 and r.json()["is_admin"] is False
    check_error(requests.get(base_url + "/users", headers=h, timeout=TIMEOUT),
                403, FORBIDDEN)


# --- POST /users/me/password -------------------------------------------------

def test_password_change_wrong_current(base_url, main_log):
    u = account(base_url)
    wrong = "wrong-" + secrets.token_hex(8)
    newpw = new_password()
    r = requests.post(base_url + "/users/me/password", timeout=TIMEOUT,
                      headers=bearer(u["token"]),
                      json={"current_password": wrong, "new_password": newpw})
    check_error(r, 400, WRONG_CURRENT)
    check_works(base_url, u["token"], u["id"])
    check_401(login(base_url, u["email"], newpw), BAD_LOGIN)
    assert login(base_url, u["email"], u["password"]).status_code == 200
    no_secret_in(main_log.text(), [wrong, newpw, u["password"]], "the log")


def test_password_change_without_a_password(base_url, dsn, victim):
    """A user created without a password has no current one to give."""
    pw = new_password()
    u = signup(base_url)
    # It cannot log in: sign the token the service would sign for it.
    rows = psql(dsn, "SELECT token_version FROM users WHERE id = :'id'",
                id=u["id"])
    token = jwt(claims_of({"id": u["id"], "email": u["email"],
                           "iss": victim["iss"], "tv": int(rows[0][0])}))
    check_works(base_url, token, u["id"])
    for current in ("", "anything-at-all"):
        r = requests.post(base_url + "/users/me/password", timeout=TIMEOUT,
                          headers=bearer(token),
                          json={"current_password": current,
                                "new_password": pw})
        check_error(r, 400, WRONG_CURRENT)
    check_401(login(base_url, u["email"], pw), BAD_LOGIN)


def test_password_change_validation(base_url, victim):
    url = base_url + "/users/me/password"
    h = bearer(victim["token"])
    r = requests.post(url, headers=h, json={}, timeout=TIMEOUT)
    assert sorted(errors(r)) == [("missing", ("body", "current_password")),
                                 ("missing", ("body", "new_password"))]
    r = requests.post(url, headers=h, timeout=TIMEOUT,
                      json={"current_password": victim["password"],
                            "new_password": "short"})
    assert errors(r) == [("string_too_short", ("body", "new_password"))]
    r = requests.post(url, headers=h, timeout=TIMEOUT,
                      json={"current_password": victim["password"],
                            "new_password": "x" * 129})
    assert errors(r) == [("string_too_long", ("body", "new_password"))]
    r = requests.post(url, headers=h, timeout=TIMEOUT, data="x=1")
    assert r.status_code == 415, r.text
    check_works(base_url, victim["token"], victim["id"])


# --- revocation across two instances -----------------------------------------

def test_password_change_retires_tokens_on_every_instance(pair):
    a, b, _ = pair
    u = account(a.url)
    t1 = u["token"]
    other = token_of(b.url, u["email"], u["password"])
    for svc in (a, b):
        check_works(svc.url, t1, u["id"])
        check_works(svc.url, other, u["id"])
    newpw = new_password()
    r = requests.post(b.url + "/users/me/password", headers=bearer(t1),
                      json={"current_password": u["password"],
                            "new_password": newpw}, timeout=TIMEOUT)
    assert r.status_code == 204, r.text
    assert r.content == b""
    for svc in (a, b):
        check_revoked(svc.url, t1)
        check_revoked(svc.url, other)
        check_401(login(svc.url, u["email"], u["password"]), BAD_LOGIN)
    t2 = token_of(a.url, u["email"], newpw)
    for svc in (a, b):
        check_works(svc.url, t2, u["id"])


def test_deactivation_retires_tokens_and_reactivation_does_not_restore(pair):
    a, b, _ = pair
    u = account(a.url)
    t1 = u["token"]
    for svc in (a, b):
        check_works(svc.url, t1, u["id"])
    r = requests.patch(a.url + "/users/" + u["id"], headers=a.auth,
                       json={"is_active": False}, timeout=TIMEOUT)
    assert r.status_code == 200 and r.json()["is_active"] is False, r.text
    for svc in (a, b):
        check_revoked(svc.url, t1)
        check_401(login(svc.url, u["email"], u["password"]), BAD_LOGIN)
    r = requests.patch(b.url + "/users/" + u["id"], headers=b.auth,
                       json={"is_active": True}, timeout=TIMEOUT)
    assert r.status_code == 200 and r.json()["is_active"] is True, r.text
    for svc in (a, b):
        check_revoked(svc.url, t1)
    t2 = token_of(b.url, u["email"], u["password"])
    for svc in (a, b):
        check_works(svc.url, t2, u["id"])


def test_deleted_users_tokens_are_refused_everywhere(pair):
    a, b, _ = pair
    by_admin = account(a.url)
    by_self = account(b.url)
    for u in (by_admin, by_self):
        for svc in (a, b):
            check_works(svc.url, u["token"], u["id"])
    r = requests.delete(b.url + "/users/" + by_admin["id"], headers=b.auth,
                        timeout=TIMEOUT)
    assert r.status_code == 204, r.text
    r = requests.delete(a.url + "/users/" + by_self["id"],
                        headers=bearer(by_self["token"]), timeout=TIMEOUT)
    assert r.status_code == 204, r.text
    for u in (by_admin, by_self):
        for svc in (a, b):
            check_revoked(svc.url, u["token"])
            check_401(login(svc.url, u["email"], u["password"]), BAD_LOGIN)
    # The address signs up again: a new user; the old token stays dead.
    again = signup(a.url, by_admin["password"], email=by_admin["email"])
    assert again["id"] != by_admin["id"]
    t = token_of(b.url, again["email"], again["password"])
    for svc in (a, b):
        check_revoked(svc.url, by_admin["token"])
        check_works(svc.url, t, again["id"])


# --- lockout -----------------------------------------------------------------

def test_lockout_after_five_failures(base_url, main_log):
    u = signup(base_url, new_password())
    bystander = signup(base_url, new_password())
    local, domain = u["email"].split("@")
    names = [u["email"], local + "@" + domain.upper()]
    for i in range(5):
        check_401(login(base_url, names[i % 2], "bad-" + str(i)), BAD_LOGIN)
    # The right password no longer helps; any spelling of the address.
    check_locked(login(base_url, u["email"], u["password"]))
    check_locked(login(base_url, names[1], u["password"]))
    check_locked(login(base_url, u["email"], "bad-again"))
    # Another account is not affected.
    assert login(base_url, bystander["email"],
                 bystander["password"]).status_code == 200
    main_log.wait_for("login refused for %s" % u["email"])
    no_secret_in(main_log.text(), [u["password"]] +
                 ["bad-" + str(i) for i in range(5)], "the log")


def test_lockout_counts_unknown_accounts_the_same(base_url):
    known = signup(base_url, new_password())
    unknown = unique_email("ghost")
    for i in range(5):
        check_401(login(base_url, known["email"], "bad-%d" % i), BAD_LOGIN)
        check_401(login(base_url, unknown, "bad-%d" % i), BAD_LOGIN)
    k = login(base_url, known["email"], "bad-x")
    n = login(base_url, unknown, "bad-x")
    assert check_locked(k) == check_locked(n)
    assert k.text == n.text
    assert abs(int(k.headers["Retry-After"]) -
               int(n.headers["Retry-After"])) <= 5


def test_success_resets_the_count(base_url):
    u = signup(base_url, new_password())
    for i in range(4):
        check_401(login(base_url, u["email"], "bad-%d" % i), BAD_LOGIN)
    # The fifth login of the window is still allowed, and it succeeds.
    assert login(base_url, u["email"], u["password"]).status_code == 200
    for i in range(5):
        check_401(login(base_url, u["email"], "bad-%d" % i), BAD_LOGIN)
    check_locked(login(base_url, u["email"], u["password"]))


def test_lockout_holds_across_instances_and_ends_with_the_window(pair):
    a, b, db = pair
    u = signup(a.url, new_password())
    for i in range(3):
        check_401(login(a.url, u["email"], "bad-a%d" % i), BAD_LOGIN)
    for i in range(2):
        check_401(login(b.url, u["email"], "bad-b%d" % i), BAD_LOGIN)
    for svc in (a, b):
        check_locked(login(svc.url, u["email"], u["password"]))
        check_locked(login(svc.url, u["email"], "bad-c"))
    # Ten minutes on, five minutes are left; refused attempts do not move
    # the window.
    back = ("UPDATE login_attempts SET window_start = window_start - "
            "interval '%d minutes' WHERE email_key = lower(:'e')")
    psql(db, back % 10, e=u["email"])
    for svc in (a, b):
        r = login(svc.url, u["email"], u["password"])
        assert r.status_code == 429, (r.status_code, r.text)
        assert 290 <= int(r.headers["Retry-After"]) <= 300, r.headers
    # Sixteen minutes after the window began it has passed.
    psql(db, back % 6, e=u["email"])
    r = login(b.url, u["email"], u["password"])
    assert r.status_code == 200, r.text
    assert login(a.url, u["email"], u["password"]).status_code == 200
    check_401(login(a.url, u["email"], "bad-d"), BAD_LOGIN)


# --- TASKS_MAX ---------------------------------------------------------------

def test_tasks_in_flight_are_capped(extra, dsn):
    svc = extra.service(dsn, TASKS_MAX=1, TASK_THREADS=1, WORKERS=1,
                        ARGON2_ITERATIONS=20)
    pw = new_password()
    u = signup(svc.url, pw)
    t0 = time.perf_counter()
    assert login(svc.url, u["email"], pw).status_code == 200
    one = time.perf_counter() - t0
    assert one > 0.1, "a login must take a while for this test (%.3f s)" % one

    n = 8
    barrier = threading.Barrier(n)
    results = [None] * n

    def go(i):
        name = u["email"] if i % 4 == 0 else unique_email("burst")
        password = pw if i % 4 == 0 else "wrong-password"
        barrier.wait()
        try:
            results[i] = requests.post(svc.url + "/token", timeout=TIMEOUT,
                                       data={"username": name,
                                             "password": password})
        except requests.RequestException as e:
            results[i] = e

    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT + 5)
    elapsed = time.perf_counter() - start
    assert all(isinstance(r, requests.Response) for r in results), results
    statuses = [r.status_code for r in results]
    print("burst:", statuses, "one login %.3f s, all %.3f s" % (one, elapsed))
    assert set(statuses) <= {200, 401, 503}, statuses
    busy = [r for r in results if r.status_code == 503]
    assert busy, statuses
    assert len(busy) < n, statuses
    for r in busy:
        assert r.headers["Content-Type"] == JSON_CT
        assert r.headers.get("Retry-After", "").isdigit(), r.headers
        assert int(r.headers["Retry-After"]) >= 1
        assert isinstance(r.json()["detail"], str)
        assert "access_token" not in r.text
    for i, r in enumerate(results):
        if r.status_code == 200:
            assert i % 4 == 0
        if r.status_code == 401:
            assert r.json() == BAD_LOGIN
    # Over the cap is refused at once, not queued behind the hashes.
    assert elapsed < (n - len(busy)) * one * 3 + 5, (elapsed, one, statuses)
    # The slot is given back: the service still logs in.
    assert login(svc.url, u["email"], pw).status_code == 200
    check_401(login(svc.url, unique_email("after"), pw), BAD_LOGIN)


# --- secrets never leave -----------------------------------------------------

def test_no_password_or_hash_in_responses_or_log(base_url, http, dsn,
                                                 main_service, main_log):
    pw1 = "first-" + secrets.token_hex(8) + " +&=%"
    pw2 = "second-" + secrets.token_hex(8)
    wrong1 = "wrong1-" + secrets.token_hex(8)
    wrong2 = "wrong2-" + secrets.token_hex(8)
    wrong3 = "wrong3-" + secrets.token_hex(8)
    words = [pw1, pw2, wrong1, wrong2, wrong3]
    seen = []

    def keep(r):
        seen.append(r)
        return r

    r = keep(requests.post(base_url + "/users", timeout=TIMEOUT, json={
        "name": "Secretive", "email": unique_email("secret"),
        "password": pw1}))
    assert r.status_code == 201
    u = r.json()
    t1 = keep(login(base_url, u["email"], pw1)).json()["access_token"]
    assert keep(login(base_url, u["email"], wrong1)).status_code == 401
    assert keep(login(base_url, unique_email("ghost"), wrong2)).status_code == 401
    assert keep(login(base_url, u["email"], pw1,
                      grant_type="refresh_token")).status_code == 400
    r = keep(requests.post(base_url + "/users/me/password", timeout=TIMEOUT,
                           headers=bearer(t1),
                           json={"current_password": wrong3,
                                 "new_password": pw2}))
    assert r.status_code == 400
    r = keep(requests.post(base_url + "/users/me/password", timeout=TIMEOUT,
                           headers=bearer(t1),
                           json={"current_password": pw1,
                                 "new_password": "short"}))
    assert r.status_code == 422
    r = keep(requests.post(base_url + "/users/me/password", timeout=TIMEOUT,
                           headers=bearer(t1),
                           json={"current_password": pw1,
                                 "new_password": pw2}))
    assert r.status_code == 204
    assert keep(login(base_url, u["email"], pw1)).status_code == 401
    t2 = keep(login(base_url, u["email"], pw2)).json()["access_token"]
    keep(me(base_url, t2))
    keep(requests.get(base_url + "/protected", headers=bearer(t2),
                      timeout=TIMEOUT))
    keep(http.get(base_url + "/users/" + u["id"]))
    keep(http.get(base_url + "/users", params={"email": u["email"]}))
    keep(requests.get(base_url + "/users/" + u["id"], headers=bearer(t2),
                      timeout=TIMEOUT))
    keep(requests.post(base_url + "/users", timeout=TIMEOUT, json={
        "name": "Dup", "email": u["email"], "password": pw2}))
    keep(requests.post(base_url + "/users", timeout=TIMEOUT, json={
        "name": "", "email": "bad", "password": wrong1}))

    for r in seen:
        where = "%s %s -> %d" % (r.request.method, r.request.url,
                                 r.status_code)
        no_secret_in(r.text, words, where)
        no_secret_in(json.dumps(dict(r.headers)), words, where + " headers")
        if r.headers.get("Content-Type") == JSON_CT and r.content:
            body = r.json()
            for obj in body if isinstance(body, list) else [body]:
                if isinstance(obj, dict):
                    assert not {"password", "password_hash",
                                "hashed_password"} & set(obj), obj

    main_log.wait_for("login failed for %s" % u["email"])
    no_secret_in(main_log.text(), words, "the log (this test)")
    no_secret_in(main_service.log(), words, "the service log")

    # What is stored is an argon2id PHC string with the default cost.
    rows = psql(dsn, "SELECT password_hash FROM users WHERE id = :'id'",
                id=u["id"])
    assert PHC_DEFAULT.match(rows[0][0]), rows


def test_same_password_two_salts(base_url, dsn):
    pw = new_password()
    a = signup(base_url, pw)
    b = signup(base_url, pw)
    rows = psql(dsn, "SELECT password_hash FROM users WHERE id IN "
                "(:'a', :'b')", a=a["id"], b=b["id"])
    hashes = [r[0] for r in rows]
    assert len(hashes) == 2 and hashes[0] != hashes[1]
    for h in hashes:
        assert PHC_DEFAULT.match(h), h
    assert hashes[0].split("$")[4] != hashes[1].split("$")[4]	# salts


# --- the JWT secret ----------------------------------------------------------

def _serve(dsn, drop=(), **env):
    e = base_env(DATABASE_URL=dsn, BIND="127.0.0.1:%d" % free_port(),
                 WORKERS=1, **env)
    for k in drop:
        e.pop(k, None)
    t0 = time.monotonic()
    proc = run_bin(["serve"], e, timeout=20)
    assert time.monotonic() - t0 < 10
    return proc


@pytest.mark.parametrize("env, drop, key", [
    ({}, ("JWT_SECRET",), "JWT_SECRET"),
    ({"JWT_SECRET": ""}, (), "JWT_SECRET"),
    ({"JWT_SECRET": "s" * 31}, (), "JWT_SECRET"),
    ({"USERAPI_DEV": "0"}, ("JWT_SECRET",), "JWT_SECRET"),
    ({"JWT_SECRET_FILE": "/nonexistent/jwt.key"}, ("JWT_SECRET",),
     "JWT_SECRET_FILE"),
], ids=["unset", "empty", "31-bytes", "dev-off", "file-missing"])
def test_serve_refuses_without_a_usable_secret(dsn, env, drop, key):
    proc = _serve(dsn, drop, **env)
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and key in lines[0], proc.stderr


def test_serve_refuses_a_bad_secret_file_and_both_keys(dsn, tmp_path):
    short = tmp_path / "short.key"
    short.write_text("k" * 31 + "\n")
    proc = _serve(dsn, ("JWT_SECRET",), JWT_SECRET_FILE=short)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "JWT_SECRET_FILE" in proc.stderr
    huge = tmp_path / "huge.key"
    huge.write_text("k" * 5000)		# refused, not cut to a prefix
    proc = _serve(dsn, ("JWT_SECRET",), JWT_SECRET_FILE=huge)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "JWT_SECRET_FILE" in proc.stderr
    good = tmp_path / "good.key"
    good.write_text("k" * 40)
    proc = _serve(dsn, (), JWT_SECRET_FILE=good)	# and JWT_SECRET
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "JWT_SECRET" in proc.stderr


def test_secret_from_a_file(extra, dsn, main_service, tmp_path):
    key = secrets.token_hex(16)			# 32 bytes
    path = tmp_path / "jwt.key"
    path.write_text(key + "\n")
    path.chmod(0o644)
    svc = extra.service(dsn, JWT_SECRET="", JWT_SECRET_FILE=path,
                        ACCESS_TOKEN_EXPIRE_MINUTES=5)
    r = login(svc.url, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert r.status_code == 200, r.text
    assert r.json()["expires_in"] == 300
    token = r.json()["access_token"]
    head, body, sig = token.split(".")
    want = hmac.new(key.encode(), (head + "." + body).encode(),
                    hashlib.sha256).digest()
    assert unb64u(sig) == want, "not signed with the file's key"
    claims = json.loads(unb64u(body))
    assert claims["exp"] - claims["iat"] == 300
    r = requests.get(svc.url + "/users", headers=bearer(token), timeout=TIMEOUT)
    assert r.status_code == 200
    # The environment's key means nothing to it, and the other way round.
    check_401(me(svc.url, main_service.token), INVALID)
    check_401(me(main_service.url, token), INVALID)
    forged = jwt({k: claims[k] for k in claims}, key=key.encode())
    assert me(svc.url, forged).status_code == 200


def test_long_secret_is_used_whole(extra, dsn):
    """A key longer than a block is still the whole key, not a prefix."""
    key = secrets.token_hex(2500)			# 5000 bytes
    svc = extra.service(dsn, JWT_SECRET=key, WORKERS=1)
    token = token_of(svc.url, ADMIN_EMAIL, ADMIN_PASSWORD)
    head, body, sig = token.split(".")
    want = hmac.new(key.encode(), (head + "." + body).encode(),
                    hashlib.sha256).digest()
    assert unb64u(sig) == want, "not signed with the configured key"
    claims = json.loads(unb64u(body))
    assert me(svc.url, jwt(claims, key=key.encode())).status_code == 200


def test_dev_mode_generates_a_secret_and_says_so(extra, dsn, main_service):
    svc = extra.service(dsn, USERAPI_DEV=1, JWT_SECRET="")
    log = svc.log()
    said = [line for line in log.splitlines()
            if "generated" in line.lower() and "secret" in line.lower()]
    assert said, log
    token = token_of(svc.url, ADMIN_EMAIL, ADMIN_PASSWORD)
    r = requests.get(svc.url + "/users/me", headers=bearer(token),
                     timeout=TIMEOUT)
    assert r.status_code == 200 and r.json()["email"] == ADMIN_EMAIL
    check_401(me(svc.url, main_service.token), INVALID)
    check_401(me(main_service.url, token), INVALID)
    with pytest.raises(AssertionError):
        jwt_decode(token)		# not signed with the environment's key


# --- the first admin ---------------------------------------------------------

def test_admin_from_environment_created_once_never_overwritten(extra):
    db = extra.database()
    email = unique_email("boot")
    pw1, pw2 = new_password(), new_password()
    s1 = extra.service(db, ADMIN_EMAIL=email, ADMIN_PASSWORD=pw1)
    assert any("created admin %s" % email in line
               for line in s1.log().splitlines()), s1.log()
    t = token_of(s1.url, email, pw1)
    r = me(s1.url, t)
    assert r.status_code == 200 and r.json()["is_admin"] is True
    assert requests.get(s1.url + "/users", headers=bearer(t),
                        timeout=TIMEOUT).status_code == 200

    s2 = extra.service(db, ADMIN_EMAIL=email, ADMIN_PASSWORD=pw2)
    assert "created admin" not in s2.log()
    assert token_of(s2.url, email, pw1)
    check_401(login(s2.url, email, pw2), BAD_LOGIN)
    rows = psql(db, "SELECT count(*) FROM users WHERE lower(email) = "
                "lower(:'e')", e=email)
    assert rows == [["1"]]
    no_secret_in(s1.log() + s2.log(), [pw1, pw2], "the log")


def test_admin_email_of_a_non_admin_stays_a_non_admin(extra):
    db = extra.database()
    s1 = extra.service(db)
    u = signup(s1.url, new_password())
    pw = new_password()
    s2 = extra.service(db, ADMIN_EMAIL=u["email"], ADMIN_PASSWORD=pw)
    warned = [line for line in s2.log().splitlines()
              if u["email"] in line and re.search(r"\bwarn(ing)?\b", line)]
    assert warned, s2.log()
    check_401(login(s2.url, u["email"], pw), BAD_LOGIN)
    t = token_of(s2.url, u["email"], u["password"])
    assert me(s2.url, t).json()["is_admin"] is False
    check_error(requests.get(s2.url + "/users", headers=bearer(t),
                             timeout=TIMEOUT), 403, FORBIDDEN)
    no_secret_in(s2.log(), [pw, u["password"]], "the log")


def test_admin_email_without_password_exits_2(dsn):
    proc = _serve(dsn, ("ADMIN_PASSWORD",), ADMIN_EMAIL=unique_email("boot"))
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "ADMIN_PASSWORD" in lines[0], proc.stderr


def _create_admin(dsn, email, password=None, stdin=""):
    env = base_env(DATABASE_URL=dsn)
    if password is not None:
        env["ADMIN_PASSWORD"] = password
    argv = [str(BIN), "create-admin", email]
    proc = subprocess.run(argv, env=env, input=stdin, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=60,
                          cwd="/")
    record_cli(argv, proc)
    return proc


def test_create_admin_creates_then_promotes(base_url, dsn):
    email = unique_email("cli")
    pw = new_password()
    proc = _create_admin(dsn, email, pw)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "created admin %s\n" % email
    t = token_of(base_url, email, pw)
    assert me(base_url, t).json()["is_admin"] is True

    u = account(base_url)
    pw2 = new_password()
    proc = _create_admin(dsn, u["email"], pw2)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "promoted admin %s\n" % u["email"]
    check_401(login(base_url, u["email"], u["password"]), BAD_LOGIN)
    t2 = token_of(base_url, u["email"], pw2)
    r = me(base_url, t2)
    assert r.status_code == 200 and r.json()["is_admin"] is True
    assert r.json()["id"] == u["id"]
    assert requests.get(base_url + "/users", headers=bearer(t2),
                        timeout=TIMEOUT).status_code == 200
    # Its password was set: tokens from before are retired.
    check_revoked(base_url, u["token"])
    no_secret_in(proc.stdout + proc.stderr, [pw, pw2], "create-admin output")


def test_create_admin_reads_the_password_from_stdin(base_url, dsn):
    email = unique_email("stdin")
    pw = new_password()
    proc = _create_admin(dsn, email, stdin=pw + "\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "created admin %s\n" % email
    t = token_of(base_url, email, pw)
    assert me(base_url, t).json()["is_admin"] is True
    no_secret_in(proc.stdout + proc.stderr, [pw], "create-admin output")


def test_create_admin_without_a_password_creates_nothing(dsn):
    email = unique_email("nopw")
    proc = _create_admin(dsn, email, stdin="")
    assert proc.returncode != 0, proc.stdout
    assert "ADMIN_PASSWORD" in proc.stderr
    assert proc.stdout == ""
    rows = psql(dsn, "SELECT count(*) FROM users WHERE lower(email) = "
                "lower(:'e')", e=email)
    assert rows == [["0"]]
