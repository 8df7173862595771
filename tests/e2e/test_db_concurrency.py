# userapi: end-to-end tests of the database layer under concurrency, over TCP: races, mixed load, restarts, vanishing clients, LISTEN/NOTIFY.
"""
The main service talks to PostgreSQL over TCP (127.0.0.1), as a deployment
does; a few tests here use the unix socket on purpose. A request that gets
no answer within CLIENT_TIMEOUT seconds counts as unanswered: every test
wants none.
"""

import os
import random
import re
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections import Counter, defaultdict

import pytest
import requests

from conftest import (PGBIN, base_env, children_of, psql, run_bin,
                      with_dbname)

CLIENT_TIMEOUT = 30
PING = "userapi_ping"
LOG_PID = re.compile(r"^\S+ \S+ \[(\d+)\] (.*)$")


def storm(n, fn):
    """Run fn(i) in n threads released at once; their results (an
    exception counts as the string 'unanswered: ...')."""
    barrier = threading.Barrier(n)
    out = [None] * n

    def run(i):
        barrier.wait()
        try:
            out[i] = fn(i)
        except requests.RequestException as e:
            out[i] = "unanswered: %s" % e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(CLIENT_TIMEOUT + 30)
    assert not any(t.is_alive() for t in threads), "a client never returned"
    return out


def case_variants(domain, n):
    """n different spellings of domain in upper and lower case."""
    rnd = random.Random(domain)
    out = {domain, domain.upper()}
    while len(out) < n:
        out.add("".join(c.upper() if rnd.random() < 0.5 else c
                        for c in domain))
    return sorted(out)[:n]


def create(base_url, auth, email):
    r = requests.post(base_url + "/users", headers=auth,
                      json={"name": "Race", "email": email},
                      timeout=CLIENT_TIMEOUT)
    assert r.status_code == 201, (r.status_code, r.text)
    return r.json()["id"], r.headers["ETag"]


def worker_lines(log, needle):
    """pid -> lines of log containing needle."""
    out = defaultdict(list)
    for line in log.splitlines():
        m = LOG_PID.match(line)
        if m and needle in m.group(2):
            out[int(m.group(1))].append(m.group(2))
    return out


def wait_workers(svc, needle, count, timeout=20):
    """Wait until each of svc's WORKERS workers logged needle count times;
    the pid -> lines map."""
    want = int(svc.env["WORKERS"])
    deadline = time.monotonic() + timeout
    while True:
        seen = worker_lines(svc.log(), needle)
        if len(seen) >= want and all(len(v) >= count for v in seen.values()):
            return seen
        if time.monotonic() > deadline:
            raise AssertionError("%s: want %d workers logging %r %d times, "
                                 "got %s" % (svc.name, want, needle, count,
                                             dict(seen)))
        time.sleep(0.1)


# --- races on one row ------------------------------------------------------

@pytest.fixture
def single(extra, migrated):
    """A second instance on the main database over the unix socket, with
    one query at a time per connection (no pipeline mode): (url, auth)."""
    svc = extra.service(migrated.sock_dsn, DB_PIPELINE=1, admin=True)
    return svc.url, svc.auth


def test_signup_race_one_email_in_case_variants(base_url, auth):
    signup_race(base_url, auth)


def test_signup_race_unix_socket_no_pipeline(single):
    signup_race(*single)


def signup_race(base_url, auth):
    for _ in range(3):
        local = "race-" + uuid.uuid4().hex[:12]
        emails = ["%s@%s" % (local, d)
                  for d in case_variants("example-race.com", 50)]
        assert len(set(emails)) == 50

        def signup(i):
            r = requests.post(base_url + "/users", headers=auth, json={
                "name": "Racer %d" % i, "email": emails[i]},
                timeout=CLIENT_TIMEOUT)
            if r.status_code == 409:
                assert r.json() == {"detail": "Email already registered"}
            return r.status_code

        got = Counter(storm(50, signup))
        assert got == {201: 1, 409: 49}, got


def test_patch_race_same_if_match(base_url, auth):
    patch_race(base_url, auth)


def test_patch_race_unix_socket_no_pipeline(single):
    patch_race(*single)


def patch_race(base_url, auth):
    uid, etag = create(base_url, auth, "patch-%s@example.com" %
                       uuid.uuid4().hex[:12])

    def patch(i):
        r = requests.patch("%s/users/%s" % (base_url, uid),
                           headers=dict(auth, **{"If-Match": etag}),
                           json={"name": "Patch %d" % i},
                           timeout=CLIENT_TIMEOUT)
        return r.status_code

    got = Counter(storm(50, patch))
    assert got == {200: 1, 412: 49}, got
    r = requests.get("%s/users/%s" % (base_url, uid), headers=auth,
                     timeout=CLIENT_TIMEOUT)
    assert r.status_code == 200 and r.headers["ETag"] != etag


# --- mixed load --------------------------------------------------------------

def test_mixed_statements_under_64_connections(base_url, auth):
    mixed_load(base_url, auth)


def test_mixed_statements_unix_socket_no_pipeline(single):
    mixed_load(*single)


def mixed_load(base_url, auth):
    """Failing (unique violations, missing rows, stale If-Match) and
    succeeding statements, 64 clients for a few seconds: every request
    answered, nothing 5xx, every answer the one its statement deserves."""
    taken = "taken-%s@example.com" % uuid.uuid4().hex[:12]
    create(base_url, auth, taken)
    users = [create(base_url, auth, "mix-%d-%s@example.com" % (
        i, uuid.uuid4().hex[:8])) for i in range(8)]
    stop = time.monotonic() + 4
    results = Counter()
    bad = []
    lock = threading.Lock()

    def client(i):
        rnd = random.Random(i)
        s = requests.Session()
        s.headers.update(auth)
        mine = Counter()
        while time.monotonic() < stop:
            kind = rnd.choice(["dup", "missing", "get", "patch", "stale"])
            uid, etag = rnd.choice(users)
            try:
                if kind == "dup":
                    r = s.post(base_url + "/users", json={
                        "name": "Dup", "email": taken.upper().replace(
                            "EXAMPLE.COM", "Example.Com")},
                        timeout=CLIENT_TIMEOUT)
                    want = 409
                elif kind == "missing":
                    r = s.get("%s/users/%s" % (base_url, uuid.uuid4()),
                              timeout=CLIENT_TIMEOUT)
                    want = 404
                elif kind == "get":
                    r = s.get("%s/users/%s" % (base_url, uid),
                              timeout=CLIENT_TIMEOUT)
                    want = 200
                elif kind == "patch":
                    r = s.patch("%s/users/%s" % (base_url, uid),
                                json={"age": rnd.randint(0, 150)},
                                timeout=CLIENT_TIMEOUT)
                    want = 200
                else:
                    r = s.patch("%s/users/%s" % (base_url, uid),
                                headers={"If-Match": '"999999"'},
                                json={"age": 1}, timeout=CLIENT_TIMEOUT)
                    want = 412
            except requests.RequestException as e:
                with lock:
                    bad.append("%s unanswered: %s" % (kind, e))
                continue
            mine[(kind, r.status_code)] += 1
            if r.status_code != want:
                with lock:
                    bad.append("%s: %d %s" % (kind, r.status_code, r.text))
        s.close()
        with lock:
            results.update(mine)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(CLIENT_TIMEOUT + 30)
    assert not any(t.is_alive() for t in threads)
    assert not bad, (len(bad), bad[:10])
    assert sum(results.values()) >= 64, results
    for kind in ("dup", "missing", "get", "patch", "stale"):
        assert any(k == kind for k, _ in results), (kind, results)


# --- clients that go away ----------------------------------------------------

class TableLock:
    """psql in the background holding users in ACCESS EXCLUSIVE mode, so
    that queries on it wait (running, on their connections)."""

    def __init__(self, dsn):
        self.proc = subprocess.Popen(
            [str(PGBIN / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
             "-d", dsn], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        self.proc.stdin.write("BEGIN;\nLOCK TABLE users IN ACCESS EXCLUSIVE "
                              "MODE;\n\\echo locked\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "locked"

    def release(self):
        self.proc.stdin.write("ROLLBACK;\n\\q\n")
        self.proc.stdin.flush()
        self.proc.wait(30)


def raw_request(base_url, path, auth):
    host, port = base_url.split("//")[1].split(":")
    s = socket.create_connection((host, int(port)), timeout=CLIENT_TIMEOUT)
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n\r\n" %
               (path, auth["Authorization"])).encode())
    return s


def test_clients_that_vanish_mid_query(base_url, auth, dsn, main_log):
    uid, _ = create(base_url, auth, "vanish-%s@example.com" %
                    uuid.uuid4().hex[:12])
    path = "/users/%s" % uid
    lock = TableLock(dsn)
    try:
        socks = [raw_request(base_url, path, auth) for _ in range(40)]
        # Their queries now wait on the lock; the clients leave.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            rows = psql(dsn, "SELECT count(*) FROM pg_stat_activity WHERE "
                        "application_name = 'userapi' AND wait_event_type "
                        "= 'Lock'")
            if int(rows[0][0]) > 0:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("no query waited on the lock")
        for s in socks:
            s.close()
    finally:
        lock.release()

    # The connections serve the queue again at once, not at the deadline.
    t0 = time.monotonic()
    got = Counter(storm(20, lambda i: requests.get(
        base_url + path, headers=auth, timeout=CLIENT_TIMEOUT).status_code))
    assert got == {200: 20}, got
    assert time.monotonic() - t0 < 4, "the pool was held by dropped queries"


def lone_worker(extra, name, **env):
    """A fresh migrated database, an admin service on it with one worker
    (env added), and a user name-<random>@example.com: (dsn, svc, id)."""
    dsn = extra.database(migrated=True)
    svc = extra.service(dsn, WORKERS=1, admin=True, **env)
    uid, _ = create(svc.url, svc.auth, "%s-%s@example.com" %
                    (name, uuid.uuid4().hex[:12]))
    return dsn, svc, uid


def test_server_that_stops_answering_is_504(extra):
    """The backends of the service's connections are stopped (SIGSTOP), so
    not even statement_timeout fires: the layer's own deadline answers
    504, drops those connections and opens new ones."""
    dsn, svc, uid = lone_worker(extra, "stopped", DB_TIMEOUT_MS=1000)
    url = "%s/users/%s" % (svc.url, uid)
    pids = [int(r[0]) for r in psql(
        dsn, "SELECT pid FROM pg_stat_activity WHERE datname = "
        "current_database() AND application_name = 'userapi'")]
    assert pids
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        r = requests.get(url, headers=svc.auth, timeout=CLIENT_TIMEOUT)
        assert r.status_code == 504, (r.status_code, r.text)
        assert time.monotonic() - t0 < 10
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    deadline = time.monotonic() + 15
    while True:
        r = requests.get(url, headers=svc.auth, timeout=CLIENT_TIMEOUT)
        if r.status_code == 200:
            break
        assert r.status_code in (503, 504), (r.status_code, r.text)
        assert time.monotonic() < deadline, "no 200 after the stop"
        time.sleep(0.1)
    assert "query deadline passed" in svc.log()


def metric(svc, name):
    r = requests.get(svc.url + "/metrics", timeout=CLIENT_TIMEOUT)
    m = re.search(r"^%s (\d+)$" % re.escape(name), r.text, re.M)
    assert m, (name, r.text[:2000])
    return int(m.group(1))


def test_failed_read_resends_the_rest_of_its_batch(extra):
    """Reads sent in one batch (one_batch: one turn of the worker's loop,
    so a loaded machine cannot split them) share a sync point: when one
    fails (here its backend is sent a cancel while they all wait on a
    table lock),
    the reads after it never ran; the layer sends them again, so they
    get their 200 and only the cancelled one an error (504)."""
    dsn, svc, uid = lone_worker(extra, "batch", DB_POOL_SIZE=1, DB_PIPELINE=32)
    path = "/users/%s" % uid
    before = metric(svc, "userapi_db_requeued_total")
    lock = TableLock(dsn)
    socks = []
    try:
        socks = one_batch(svc, path, 20)
        cancels = 0
        deadline = time.monotonic() + 20
        while metric(svc, "userapi_db_requeued_total") == before:
            assert time.monotonic() < deadline, "no batch was resent"
            rows = psql(dsn, "SELECT pid FROM pg_stat_activity WHERE "
                        "application_name = 'userapi' AND wait_event_type "
                        "= 'Lock'")
            if rows:
                psql(dsn, "SELECT pg_cancel_backend(%s)" % rows[0][0])
                cancels += 1
            time.sleep(0.2)
    finally:
        lock.release()
    got = Counter(read_status(s) for s in socks)
    for s in socks:
        s.close()
    assert set(got) <= {200, 504}, got     # None: closed without an answer
    assert got[504] <= cancels, (got, cancels)
    assert got[200] >= 20 - cancels, (got, cancels)
    assert "query user_get failed" not in svc.log()


def read_status(s):
    """The status of the answer on raw socket s (None: closed without)."""
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(65536)
        if not chunk:
            return None
        head += chunk
    return int(head.split(b" ", 2)[1])


def one_batch(svc, path, n):
    """n raw GETs of path that the service's only worker reads in one turn,
    so that their queries go out as one batch: the open sockets."""
    get = ("GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n\r\n" %
           (path, svc.auth["Authorization"])).encode()
    return in_one_turn(svc, [get] * n)


def in_one_turn(svc, raws):
    """Send each raw request on a socket of its own, in order, while the
    service's only worker is stopped, so that it reads them all in one
    turn of its loop: the open sockets."""
    workers = children_of(svc.proc.pid)
    assert len(workers) == 1, workers
    socks = [socket.create_connection(("127.0.0.1", svc.port),
                                      timeout=CLIENT_TIMEOUT)
             for _ in raws]
    requests.get(svc.url + "/healthz", timeout=CLIENT_TIMEOUT)  # accepted
    os.kill(workers[0], signal.SIGSTOP)
    try:
        for s, raw in zip(socks, raws):
            s.sendall(raw)
    finally:
        os.kill(workers[0], signal.SIGCONT)
    return socks


def wait_lock_waiters(dsn, timeout=10):
    """The pids of the service's backends waiting on a lock, once any."""
    deadline = time.monotonic() + timeout
    while True:
        rows = psql(dsn, "SELECT pid FROM pg_stat_activity WHERE "
                    "application_name = 'userapi' AND wait_event_type "
                    "= 'Lock'")
        if rows:
            return [r[0] for r in rows]
        assert time.monotonic() < deadline, "no query waited on the lock"
        time.sleep(0.05)


def test_reads_of_a_lost_connection_go_to_another(extra):
    """A batch of reads waits on a table lock when its connection's backend
    is terminated: the reads go back to the queue and get their answer on
    the other connection once the lock is gone, not a 503."""
    dsn, svc, uid = lone_worker(extra, "lost", DB_POOL_SIZE=2, DB_PIPELINE=32)
    before = metric(svc, "userapi_db_requeued_total")
    lock = TableLock(dsn)
    socks = []
    try:
        socks = one_batch(svc, "/users/%s" % uid, 6)
        pids = wait_lock_waiters(dsn)
        assert len(pids) == 1, pids     # one batch, one connection
        psql(dsn, "SELECT pg_terminate_backend(%s)" % pids[0])
        deadline = time.monotonic() + 10
        while metric(svc, "userapi_db_requeued_total") < before + 6:
            assert time.monotonic() < deadline, "the reads were not resent"
            time.sleep(0.1)
    finally:
        lock.release()
    got = Counter(read_status(s) for s in socks)
    for s in socks:
        s.close()
    assert got == {200: 6}, got


def test_reads_of_a_batch_that_timed_out_are_not_sent_again(extra):
    """One batch of reads waits on a table lock until the first one's
    statement_timeout: the others never ran and their deadline is spent,
    so they answer 504 at once. Sent again, each would wait a whole
    statement_timeout more on the server, past its deadline, until the
    layer dropped the connection as unresponsive."""
    dsn, svc, uid = lone_worker(extra, "spent",
        DB_POOL_SIZE=1, DB_PIPELINE=8, DB_TIMEOUT_MS=2000)
    lock = TableLock(dsn)
    try:
        t0 = time.monotonic()
        socks = one_batch(svc, "/users/%s" % uid, 6)
        got = []
        for s in socks:
            got.append((read_status(s), time.monotonic() - t0))
            s.close()
    finally:
        lock.release()
    assert [st for st, _ in got] == [504] * 6, got
    # Twice the deadline: only a query sent again takes that long.
    assert all(t < 3.9 for _, t in got), got
    assert "query deadline passed" not in svc.log()
    assert metric(svc, "userapi_db_requeued_total") == 0


def test_cancelled_reads_of_an_aborted_batch_are_no_errors(extra):
    """Clients leave while their reads wait in one batch behind a read
    that then fails: the reads never ran, nobody waits for them, and
    that is no failed query (no error logged or counted)."""
    dsn, svc, uid = lone_worker(extra, "gone", DB_POOL_SIZE=1, DB_PIPELINE=32)
    before = metric(svc, 'userapi_db_errors_total{kind="other"}')
    lock = TableLock(dsn)
    try:
        socks = one_batch(svc, "/users/%s" % uid, 10)
        pids = wait_lock_waiters(dsn)
        for s in socks[1:]:
            s.close()
        time.sleep(0.3)     # the worker sees them go
        psql(dsn, "SELECT pg_cancel_backend(%s)" % pids[0])
        assert read_status(socks[0]) == 504
        socks[0].close()
    finally:
        lock.release()
    r = requests.get("%s/users/%s" % (svc.url, uid), headers=svc.auth,
                     timeout=CLIENT_TIMEOUT)
    assert r.status_code == 200
    assert "query user_get failed" not in svc.log()
    assert metric(svc, 'userapi_db_errors_total{kind="other"}') == before


def test_writes_use_the_read_connection_when_the_others_are_down(extra):
    """DB_POOL_SIZE=2: connection 1 is killed and cannot come back (the
    database refuses new connections); connection 0, which takes reads
    only while another is up, takes the writes rather than let them time
    out."""
    dsn, svc, uid = lone_worker(extra, "alone",
        DB_POOL_SIZE=2, DB_PIPELINE=8, DB_TIMEOUT_MS=2000)
    dbname = psql(dsn, "SELECT current_database()")[0][0]
    other = with_dbname(dsn, "postgres")
    lock = RowLock(dsn, uid)
    out = []
    try:
        # A write waits on the row lock: its backend is connection 1's.
        t = threading.Thread(target=lambda: out.append(requests.patch(
            "%s/users/%s" % (svc.url, uid), headers=svc.auth,
            json={"age": 3}, timeout=CLIENT_TIMEOUT).status_code))
        t.start()
        pids = wait_lock_waiters(dsn)
        psql(other, 'ALTER DATABASE "%s" ALLOW_CONNECTIONS false' % dbname)
        try:
            psql(other, "SELECT pg_terminate_backend(%s)" % pids[0])
            t.join(CLIENT_TIMEOUT)
            assert out == [503], out
            lock.release()
            lock = None
            r = requests.post(svc.url + "/users", headers=svc.auth, json={
                "name": "Alone", "email": "alone-%s@example.com" %
                uuid.uuid4().hex[:12]}, timeout=CLIENT_TIMEOUT)
            assert r.status_code == 201, (r.status_code, r.text)
            r = requests.patch("%s/users/%s" % (svc.url, uid),
                               headers=svc.auth, json={"age": 4},
                               timeout=CLIENT_TIMEOUT)
            assert r.status_code == 200, (r.status_code, r.text)
        finally:
            psql(other, 'ALTER DATABASE "%s" ALLOW_CONNECTIONS true' %
                 dbname)
    finally:
        if lock is not None:
            lock.release()


class RowLock:
    """psql in the background holding one user's row lock, so that writes
    to it wait (running, on their connections)."""

    def __init__(self, dsn, uid):
        self.proc = subprocess.Popen(
            [str(PGBIN / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
             "-d", dsn], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        self.proc.stdin.write("BEGIN;\nSELECT 1 FROM users WHERE id = '%s' "
                              "FOR UPDATE;\n\\echo locked\n" % uid)
        self.proc.stdin.flush()
        while self.proc.stdout.readline().strip() != "locked":
            pass

    def release(self):
        self.proc.stdin.write("ROLLBACK;\n\\q\n")
        self.proc.stdin.flush()
        self.proc.wait(30)


def test_reads_do_not_wait_behind_stuck_writes(extra):
    """Writes that wait on a row lock fill every connection that takes
    writes; a read of another user still gets its answer while they wait,
    because one connection takes reads only."""
    dsn, svc, stuck = lone_worker(extra, "stuck",
        DB_POOL_SIZE=2, DB_PIPELINE=4)
    other, _ = create(svc.url, svc.auth, "other-%s@example.com" %
                      uuid.uuid4().hex[:12])
    lock = RowLock(dsn, stuck)
    writers = []
    try:
        def patch(i):
            return requests.patch("%s/users/%s" % (svc.url, stuck),
                                  headers=svc.auth, json={"age": i},
                                  timeout=CLIENT_TIMEOUT).status_code

        for i in range(12):
            t = threading.Thread(target=patch, args=(i,))
            t.start()
            writers.append(t)
        deadline = time.monotonic() + 10
        while True:
            rows = psql(dsn, "SELECT count(*) FROM pg_stat_activity WHERE "
                        "application_name = 'userapi' AND wait_event_type "
                        "= 'Lock'")
            if int(rows[0][0]) > 0:
                break
            assert time.monotonic() < deadline, "no write waited"
            time.sleep(0.05)
        time.sleep(0.5)     # the rest of the writes queue up meanwhile
        for _ in range(5):
            r = requests.get("%s/users/%s" % (svc.url, other),
                             headers=svc.auth, timeout=5)
            assert r.status_code == 200, (r.status_code, r.text)
        assert lock.proc.poll() is None
    finally:
        lock.release()
    for t in writers:
        t.join(CLIENT_TIMEOUT)


def test_reads_do_not_follow_a_write_of_their_turn(extra):
    """A write and then a read arrive in one turn of the loop, while
    another write waits on a row lock on the connection that takes
    writes: the read goes to connection 0, not behind the stuck writes."""
    dsn, svc, stuck = lone_worker(extra, "turn", DB_POOL_SIZE=2, DB_PIPELINE=4)
    other, _ = create(svc.url, svc.auth, "read-%s@example.com" %
                      uuid.uuid4().hex[:12])
    body = b'{"age": 7}'
    patch = ("PATCH /users/%s HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n"
             "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
             % (stuck, svc.auth["Authorization"], len(body))).encode() + body
    get = ("GET /users/%s HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n\r\n"
           % (other, svc.auth["Authorization"])).encode()
    lock = RowLock(dsn, stuck)
    socks = []
    try:
        socks = in_one_turn(svc, [patch])
        wait_lock_waiters(dsn)
        socks += in_one_turn(svc, [patch, get])
        socks[2].settimeout(5)
        assert read_status(socks[2]) == 200
        assert lock.proc.poll() is None
    finally:
        lock.release()
    assert [read_status(s) for s in socks[:2]] == [200, 200]
    for s in socks:
        s.close()


def test_writes_stuck_on_a_lock_do_not_fill_the_queue_for_reads(extra):
    """DB_QUEUE_MAX=4: writes wait on a row lock, fill the connection that
    takes writes, then the queue (the writes after them answer 503); a
    read of another user still gets its 200 from connection 0, and is not
    refused as if the queue were full."""
    dsn, svc, stuck = lone_worker(extra, "full",
        DB_POOL_SIZE=2, DB_PIPELINE=2, DB_QUEUE_MAX=4)
    other, _ = create(svc.url, svc.auth, "free-%s@example.com" %
                      uuid.uuid4().hex[:12])
    lock = RowLock(dsn, stuck)
    got = []
    writers = []
    try:
        def patch(i):
            got.append(requests.patch(
                "%s/users/%s" % (svc.url, stuck), headers=svc.auth,
                json={"age": i}, timeout=CLIENT_TIMEOUT).status_code)

        for i in range(8):
            t = threading.Thread(target=patch, args=(i,))
            t.start()
            writers.append(t)
        wait_lock_waiters(dsn)
        deadline = time.monotonic() + 10
        while got.count(503) < 2:   # 2 running, 4 waiting, 2 refused
            assert time.monotonic() < deadline, got
            time.sleep(0.05)
        for _ in range(3):
            r = requests.get("%s/users/%s" % (svc.url, other),
                             headers=svc.auth, timeout=CLIENT_TIMEOUT)
            assert r.status_code == 200, (r.status_code, r.text)
        assert lock.proc.poll() is None
    finally:
        lock.release()
    for t in writers:
        t.join(CLIENT_TIMEOUT)
    # Other writes of the service (the job runner's) may take a slot too.
    assert len(got) == 8 and set(got) == {200, 503}, got


# --- PostgreSQL restarted under load ----------------------------------------

def test_postgres_restart_under_load(extra):
    c = extra.cluster(tcp=True)
    proc = run_bin(["migrate"], base_env(DATABASE_URL=c.dsn))
    assert proc.returncode == 0, proc.stderr
    svc = extra.service(c.dsn, ready_path="/readyz", admin=True)
    wait_workers(svc, "listen: channel %s resumed" % PING, 1)
    pids = set(worker_lines(svc.log(), "listen: channel").keys())
    uid, _ = create(svc.url, svc.auth, "restart-%s@example.com" %
                    uuid.uuid4().hex[:12])
    url = "%s/users/%s" % (svc.url, uid)

    phase = {"name": "before"}
    seen = Counter()
    bad = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(i):
        s = requests.Session()
        s.headers.update(svc.auth)
        while not stop.is_set():
            t0 = time.monotonic()
            try:
                r = s.get(url, timeout=CLIENT_TIMEOUT)
            except requests.RequestException as e:
                with lock:
                    bad.append("unanswered: %s" % e)
                continue
            took = time.monotonic() - t0
            with lock:
                seen[(phase["name"], r.status_code)] += 1
                if r.status_code not in (200, 503):
                    bad.append("%d %s" % (r.status_code, r.text))
                elif r.status_code == 503 and took > 4:
                    # Not held until the query deadline (5 s).
                    bad.append("503 after %.1f s" % took)
            if r.status_code == 503:
                time.sleep(0.01)
        s.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    try:
        time.sleep(1)
        phase["name"] = "down"
        c.stop()
        time.sleep(1)
        c.start()
        phase["name"] = "back"
        time.sleep(1)
    finally:
        stop.set()
        for t in threads:
            t.join(CLIENT_TIMEOUT + 30)
    assert not bad, (len(bad), bad[:10])
    assert seen[("before", 200)] > 0 and seen[("down", 503)] > 0, seen

    # Every connection of every worker is back within the longest backoff.
    time.sleep(2.5)
    got = Counter(storm(40, lambda i: requests.get(
        url, headers=svc.auth, timeout=CLIENT_TIMEOUT).status_code))
    assert got == {200: 40}, got

    # LISTEN came back in every worker, and the same workers run.
    resumed = wait_workers(svc, "listen: channel %s resumed" % PING, 2)
    assert set(resumed) == pids, (resumed, pids)
    tag = "after-restart-" + uuid.uuid4().hex[:8]
    psql(c.dsn, "SELECT pg_notify(:'ch', :'tag')", ch=PING, tag=tag)
    wait_workers(svc, tag, 1)


# --- LISTEN/NOTIFY -------------------------------------------------------------

def test_notify_reaches_every_worker_of_two_instances(main_service, migrated,
                                                      extra):
    """The main service over TCP, a second instance on the same database
    over the unix socket: one NOTIFY, every worker of both logs it."""
    other = extra.service(migrated.sock_dsn, ready_path="/readyz")
    for svc in (main_service, other):
        wait_workers(svc, "listen: channel %s resumed" % PING, 1)
    tag = "hello-" + uuid.uuid4().hex[:12]
    psql(migrated.dsn, "SELECT pg_notify(:'ch', :'tag')", ch=PING, tag=tag)
    for svc in (main_service, other):
        got = wait_workers(svc, "listen: ping on channel %s: %s" % (PING, tag),
                           1)
        assert all(len(v) == 1 for v in got.values()), got
