# userapi: end-to-end tests of abuse that reaches the database: long usernames, the login_attempts table, password guessing with a token, If-Match probing.

import secrets
import threading
import uuid
from urllib.parse import quote_plus

import pytest
import requests

from conftest import JSON_CT, psql, unique_email

BAD_LOGIN = {"detail": "Incorrect username or password"}
NOT_FOUND = {"detail": "User not found"}
PRECONDITION = {"detail": "Precondition Failed"}
WRONG_CURRENT = {"detail": "Incorrect password"}
FORM = "application/x-www-form-urlencoded"
TIMEOUT = 30
EMAIL_MAX = 254		# bytes: the longest e-mail address there is


def bearer(token):
    return {"Authorization": "Bearer " + token}


def login(url, username, password, raw=None):
    """POST /token; raw is an already encoded form body."""
    if raw is not None:
        return requests.post(url + "/token", data=raw, timeout=TIMEOUT,
                             headers={"Content-Type": FORM})
    return requests.post(url + "/token", timeout=TIMEOUT,
                         data={"username": username, "password": password})


def check_bad_login(r):
    assert r.status_code == 401, (r.status_code, r.text)
    assert r.headers["Content-Type"] == JSON_CT
    assert r.headers.get("WWW-Authenticate") == "Bearer"
    assert r.json() == BAD_LOGIN


def check_locked(r):
    assert r.status_code == 429, (r.status_code, r.text)
    assert r.headers["Content-Type"] == JSON_CT
    ra = r.headers.get("Retry-After", "")
    assert ra.isdigit() and 850 <= int(ra) <= 900, ra
    assert r.json() == {"detail": "Too many failed logins, try again later"}


def account(url):
    """A user with a password and a token: its JSON, "password", "token"."""
    pw = "pw-" + secrets.token_hex(8)
    r = requests.post(url + "/users", timeout=TIMEOUT, json={
        "name": "Abuse", "email": unique_email("abuse"), "password": pw})
    assert r.status_code == 201, (r.status_code, r.text)
    u = r.json()
    u["password"] = pw
    r = login(url, u["email"], pw)
    assert r.status_code == 200, (r.status_code, r.text)
    u["token"] = r.json()["access_token"]
    return u


def attempts_rows(dsn, like):
    rows = psql(dsn, "SELECT email_key, attempts FROM login_attempts "
                "WHERE email_key LIKE :'p' ORDER BY email_key", p=like)
    return {k: int(n) for k, n in rows}


def change_password(url, token, current, new):
    return requests.post(url + "/users/me/password", headers=bearer(token),
                         json={"current_password": current,
                               "new_password": new}, timeout=TIMEOUT)


# --- usernames on POST /token ------------------------------------------------

@pytest.mark.parametrize("length", [EMAIL_MAX + 1, 300, 2800, 7000])
def test_long_username_is_401_without_database_work(base_url, dsn, main_log,
                                                     length):
    """Longer than an e-mail address can be: the usual 401 (after the same
    dummy verify), never a 500, and no row in login_attempts."""
    tag = "long%s" % secrets.token_hex(4)
    # Random characters: a repeated one would compress below the btree
    # limit and hide the 500 that an index entry this long gave.
    name = (tag + secrets.token_urlsafe(length))[:length - len(
        "@example.com")] + "@example.com"
    assert len(name.encode()) == length
    before = psql(dsn, "SELECT count(*) FROM login_attempts")[0][0]
    for _ in range(2):
        check_bad_login(login(base_url, name, "whatever-pw"))
    main_log.wait_for("username longer than an e-mail address")
    assert attempts_rows(dsn, tag + "%") == {}
    # Nothing was counted for it, and nothing else was added meanwhile
    # by this test (the suite runs one test at a time).
    assert psql(dsn, "SELECT count(*) FROM login_attempts")[0][0] == before
    # Six tries are never a lockout: there is no count to lock.
    for _ in range(5):
        check_bad_login(login(base_url, name, "whatever-pw"))


def test_username_of_254_bytes_is_counted(base_url, dsn):
    """The longest possible address still names an account key."""
    tag = "edge%s" % secrets.token_hex(4)
    name = tag + "y" * (EMAIL_MAX - len(tag) - len("@example.com")) + \
        "@example.com"
    assert len(name) == EMAIL_MAX
    check_bad_login(login(base_url, name, "whatever-pw"))
    assert attempts_rows(dsn, tag + "%") == {name: 1}


@pytest.mark.parametrize("raw", [
    pytest.param("username=%FF%FE%FD&password=x", id="not-utf8"),
    pytest.param("username=a%00b%40example.com&password=x", id="nul"),
    pytest.param("username=%01%02%1B%7F&password=x", id="control"),
    pytest.param("username=&password=x", id="empty"),
    pytest.param("username=" + quote_plus("\u0130" * 127) + "&password=x",
                 id="254-bytes-2-byte-chars"),
    pytest.param("username=" + quote_plus("\u0130" * 128) + "&password=x",
                 id="256-bytes-2-byte-chars"),
    pytest.param("username=" + quote_plus("\U0001F600" * 64) +
                 "&password=x", id="emoji"),
    pytest.param("username=" + "%25" * 2000 + "&password=x", id="percents"),
    pytest.param("username=" + "a" * 8000 + "&password=x", id="8000-a"),
    pytest.param("username=" + secrets.token_urlsafe(2400) + "&password=x",
                 id="random-3200"),
    pytest.param("username=" + secrets.token_urlsafe(6000) + "&password=x",
                 id="random-8000"),
])
def test_no_username_is_a_500(base_url, raw):
    check_bad_login(login(base_url, None, None, raw=raw))


# --- login_attempts stays bounded ---------------------------------------------

def _flood(url, names, threads=8):
    """POST /token for each name from a few threads; the statuses."""
    codes = []
    lock = threading.Lock()
    todo = list(names)

    def run():
        with requests.Session() as s:
            while True:
                with lock:
                    if not todo:
                        return
                    n = todo.pop()
                r = s.post(url + "/token", timeout=TIMEOUT,
                           data={"username": n, "password": "guess"})
                with lock:
                    codes.append(r.status_code)

    ts = [threading.Thread(target=run) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return codes


def test_login_attempts_stay_bounded(extra):
    """Anonymous logins with random usernames: one row per key, and rows
    whose window passed are removed by later logins, even when their key
    is never tried again."""
    dsn = extra.database(migrated=True)
    svc = extra.service(dsn)
    count = "SELECT count(*) FROM login_attempts"

    names = ["rnd%s@example.com" % secrets.token_hex(6) for _ in range(40)]
    codes = _flood(svc.url, names + names[:10])
    assert codes == [401] * 50, codes
    rows = attempts_rows(dsn, "rnd%")
    assert set(rows) == set(names)
    assert sorted(rows.values()) == [1] * 30 + [2] * 10
    assert psql(dsn, count)[0][0] == "40"

    # Twenty minutes on, every window has passed.
    psql(dsn, "UPDATE login_attempts SET window_start = window_start - "
         "interval '20 minutes'")
    fresh = ["new%s@example.com" % secrets.token_hex(6) for _ in range(10)]
    codes = _flood(svc.url, fresh, threads=1)
    assert codes == [401] * 10, codes
    # Each login removed up to 4 expired keys: 40 are gone, 10 are new.
    assert attempts_rows(dsn, "rnd%") == {}
    assert set(attempts_rows(dsn, "new%")) == set(fresh)
    assert psql(dsn, count)[0][0] == "10"

    # An expired key that logs in again starts a new window in place.
    psql(dsn, "UPDATE login_attempts SET attempts = 9, window_start = "
         "window_start - interval '20 minutes' WHERE email_key = :'k'",
         k=fresh[0])
    check_bad_login(login(svc.url, fresh[0], "guess"))
    assert attempts_rows(dsn, fresh[0]) == {fresh[0]: 1}
    assert psql(dsn, count)[0][0] == "10"


# --- POST /users/me/password counts against the lockout ----------------------

def test_wrong_current_password_counts_against_lockout(base_url):
    u = account(base_url)
    new = "pw-" + secrets.token_hex(8)
    for i in range(5):
        r = change_password(base_url, u["token"], "wrong-%d" % i, new)
        assert r.status_code == 400, (r.status_code, r.text)
        assert r.json() == WRONG_CURRENT
    # Locked: the right password is refused, here and at POST /token.
    check_locked(change_password(base_url, u["token"], u["password"], new))
    check_locked(login(base_url, u["email"], u["password"]))
    # The password did not change, the token still works.
    r = requests.get(base_url + "/users/me", headers=bearer(u["token"]),
                     timeout=TIMEOUT)
    assert r.status_code == 200, r.text


def test_failed_logins_and_wrong_current_passwords_add_up(base_url):
    u = account(base_url)
    new = "pw-" + secrets.token_hex(8)
    for i in range(3):
        check_bad_login(login(base_url, u["email"], "bad-%d" % i))
    for i in range(2):
        r = change_password(base_url, u["token"], "wrong-%d" % i, new)
        assert r.status_code == 400, (r.status_code, r.text)
    check_locked(change_password(base_url, u["token"], u["password"], new))
    check_locked(login(base_url, u["email"], u["password"]))


def test_right_current_password_clears_the_count(base_url, dsn):
    u = account(base_url)
    new = "pw-" + secrets.token_hex(8)
    for i in range(4):
        r = change_password(base_url, u["token"], "wrong-%d" % i, new)
        assert r.status_code == 400, (r.status_code, r.text)
    r = change_password(base_url, u["token"], u["password"], new)
    assert r.status_code == 204, (r.status_code, r.text)
    assert attempts_rows(dsn, u["email"].lower()) == {}
    # A fresh window: four more failures are not a lockout.
    for i in range(4):
        check_bad_login(login(base_url, u["email"], "bad-%d" % i))
    assert login(base_url, u["email"], new).status_code == 200


# --- If-Match cannot probe ids -----------------------------------------------

TAGS = ['"1"', '"999999"', 'W/"1"', '"abc"', "garbage", '"1", "2"']
WRITES = [("PUT", {"name": "P", "email": "probe@example.com"}),
          ("PATCH", {"age": 3}), ("DELETE", None), ("GET", None)]


@pytest.mark.parametrize("tag", TAGS)
def test_if_match_on_a_missing_user_is_404(base_url, http, tag):
    url = "%s/users/%s" % (base_url, uuid.uuid4())
    for method, body in WRITES:
        r = http.request(method, url, json=body, headers={"If-Match": tag})
        assert r.status_code == 404, (method, tag, r.status_code, r.text)
        assert r.json() == NOT_FOUND


@pytest.mark.parametrize("tag", TAGS + ["*"])
def test_if_match_on_a_user_the_caller_may_not_see_is_404(base_url, http,
                                                          tag):
    other = account(base_url)
    me = account(base_url)
    url = "%s/users/%s" % (base_url, other["id"])
    for method, body in WRITES:
        r = requests.request(method, url, json=body, timeout=TIMEOUT,
                             headers={"If-Match": tag, **bearer(me["token"])})
        assert r.status_code == 404, (method, tag, r.status_code, r.text)
        assert r.json() == NOT_FOUND
    # Nothing changed: the admin sees it as it was.
    got = http.get(url).json()
    assert got["name"] == other["name"] and got["age"] == other["age"]


def test_if_match_on_get_is_honoured(base_url, http, user_factory):
    u = user_factory(age=4)
    url = "%s/users/%s" % (base_url, u["id"])
    tag = user_factory.etags[u["id"]]
    for ok in (tag, "*", '"999999", ' + tag):
        r = http.get(url, headers={"If-Match": ok})
        assert r.status_code == 200, (ok, r.status_code, r.text)
        assert r.json() == u and r.headers["ETag"] == tag
    for bad in ('"999999"', "W/" + tag, "garbage", '""'):
        r = http.get(url, headers={"If-Match": bad})
        assert r.status_code == 412, (bad, r.status_code, r.text)
        assert r.json() == PRECONDITION
        assert u["email"] not in r.text
    # After a write the old tag is stale on GET too.
    r = http.patch(url, json={"age": 5})
    assert r.status_code == 200, r.text
    assert http.get(url, headers={"If-Match": tag}).status_code == 412
    r = http.get(url, headers={"If-Match": r.headers["ETag"]})
    assert r.status_code == 200 and r.json()["age"] == 5


def test_if_match_garbage_on_a_visible_user_is_412(base_url, http,
                                                   user_factory):
    u = user_factory(age=1)
    url = "%s/users/%s" % (base_url, u["id"])
    for method, body in WRITES:
        r = http.request(method, url, json=body, headers={"If-Match": "nope"})
        assert r.status_code == 412, (method, r.status_code, r.text)
    assert http.get(url).json() == u
