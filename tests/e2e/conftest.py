# userapi: the end-to-end harness: a throwaway PostgreSQL cluster, the real binary, log checks.
"""
Session: one private cluster (scripts/pgembed.sh) in a temporary directory,
`userapi migrate`, then `userapi serve` on a free port with two workers,
connected to PostgreSQL over TCP (127.0.0.1); extra clusters use the unix
socket unless asked for TCP.
Tests that need their own instance (special environment, their own cluster
that they stop) use the `extra` fixture. Every process the harness starts
is stopped by its PID.

At the end, every service log (main and extra instances) and the output of
every command run is searched for signs that a worker died or a sanitizer
fired; any such line fails the run. The logs are kept in tests/artifacts/e2e.
"""

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import requests

import openapi_check

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("USERAPI_BIN") or REPO / ".build/sanitize/userapi")
PGEMBED = REPO / "scripts/pgembed.sh"
PGBIN = Path("/usr/lib/postgresql/15/bin")
ARTIFACTS = REPO / "tests/artifacts/e2e"
MIGRATIONS = sorted(p.stem for p in (REPO / "migrations").glob("*.sql"))

# A line that says a worker died or a sanitizer fired.
BAD_SIGNS = re.compile(
    r"died from sandbox violation|restarting worker|seccomp|AddressSanitizer"
    r"|LeakSanitizer|runtime error:|worker .* exited|hdlr .* has caused"
    r"|\(hdlr: .*\) gone")
# Lines that match BAD_SIGNS in every healthy run: Kore's start-up notice
# and its normal shutdown ("worker [wrk 1] exited", and "worker [keymgr]
# exited" with TLS; a worker that dies says "worker [wrk 1] (<pid>)
# exited with status <n>").
BENIGN = re.compile(
    r"^\[parent\]: seccomp sandbox enabled$"
    r"|^\[parent\]: worker \[(wrk \d+|keymgr)\] exited$"
    r"|seccomp filter '[^']*' dropped$")

SAN_ENV = {
    "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0",
    "UBSAN_OPTIONS": "print_stacktrace=1",
}

STOP_GRACE = 10		# seconds between SIGTERM and SIGKILL

# Every service started in this session, and problems seen on the way.
_services = []
_problems = []
_cli_log = None


# --- every answer is checked against the OpenAPI document ------------------
# Each response that a service started by this harness gives to requests
# (sessions and requests.get alike) must match assets/openapi.json for its
# route and status, else the test fails with openapi_check.Mismatch.

_checked_urls = set()
_send = requests.Session.send


def _send_checked(self, request, **kwargs):
    resp = _send(self, request, **kwargs)
    url = resp.url
    if any(url == u or url.startswith(u + "/") for u in _checked_urls):
        openapi_check.check_response(resp)
    return resp


requests.Session.send = _send_checked


def free_port():
    """A TCP port nobody listens on right now (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env(**extra):
    """The environment for the binary: ours minus userapi's keys, plus extra."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "BIND", "WORKERS", "LOG_FORMAT",
                        "BODY_LIMIT", "DB_POOL_SIZE", "DB_QUEUE_MAX",
                        "DB_PIPELINE", "DB_TIMEOUT_MS", "TASKS_MAX", "USERAPI_DEV",
                        "JWT_SECRET", "JWT_SECRET_FILE", "ADMIN_EMAIL",
                        "ADMIN_PASSWORD")}
    env.update(SAN_ENV)
    # Not used by the users API yet; a service that needs a key finds one.
    env["JWT_SECRET"] = _JWT_SECRET
    # Every test talks from 127.0.0.1: the rate limiter is off unless a
    # test of it turns it on (test_hardening.py).
    env["RATE_LIMIT_STRICT"] = "0"
    env["RATE_LIMIT_GENERAL"] = "0"
    # SIGTERM drains: well within the harness's own STOP_GRACE.
    env["SHUTDOWN_GRACE_SECONDS"] = "5"
    env.update({k: str(v) for k, v in extra.items()})
    return env


_JWT_SECRET = secrets.token_hex(32)

# The admin that ADMIN_EMAIL creates at start-up: the tests act as it.
ADMIN_EMAIL = "admin@e2e.example.com"
ADMIN_PASSWORD = "e2e-" + secrets.token_hex(12)


def record_cli(argv, proc):
    """Keep the output of a command run, for the artifacts and the checks."""
    if _cli_log is None:
        return
    with open(_cli_log, "a", encoding="utf-8", errors="replace") as f:
        f.write("$ %s\n" % " ".join(str(a) for a in argv))
        f.write("exit %s\n" % proc.returncode)
        if proc.stdout:
            f.write(proc.stdout if proc.stdout.endswith("\n")
                    else proc.stdout + "\n")
        if proc.stderr:
            f.write(proc.stderr if proc.stderr.endswith("\n")
                    else proc.stderr + "\n")


def run_bin(args, env, timeout=60):
    """Run the binary to completion (migrate, --help, a bad config)."""
    argv = [str(BIN)] + list(args)
    proc = subprocess.run(argv, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True,
                          errors="replace", timeout=timeout, cwd="/")
    record_cli(argv, proc)
    return proc


def pgembed(cmd, pgdir, timeout=90, tcp_port=None):
    argv = [str(PGEMBED), cmd, str(pgdir)]
    env = dict(os.environ, PGEMBED_FAST="1")
    env.pop("DATABASE_URL", None)
    env.pop("PGEMBED_TCP_PORT", None)
    if tcp_port is not None:
        env["PGEMBED_TCP_PORT"] = str(tcp_port)
    proc = subprocess.run(argv, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=timeout)
    record_cli(argv, proc)
    if proc.returncode != 0:
        raise RuntimeError("pgembed.sh %s %s failed (%d): %s%s" % (
            cmd, pgdir, proc.returncode, proc.stdout, proc.stderr))
    return proc.stdout


def with_dbname(dsn, dbname):
    """The conninfo dsn pointing at another database of the same cluster."""
    new, n = re.subn(r"\bdbname=\S+", "dbname=" + dbname, dsn)
    assert n == 1, dsn
    return new


def raw_until_close(svc, data, timeout=10):
    """Send data on a new connection to svc: every byte it answers until it
    closes the connection (or resets it)."""
    with socket.create_connection(("127.0.0.1", svc.port),
                                  timeout=timeout) as s:
        s.sendall(data)
        out = b""
        deadline = time.monotonic() + timeout
        while True:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
    return out


def psql(dsn, sql, **variables):
    """Run sql (psql variables :'name' allowed); rows as lists of strings."""
    argv = [str(PGBIN / "psql"), "-X", "-q", "-At", "-F", "\t",
            "-v", "ON_ERROR_STOP=1", "-d", dsn]
    for k, v in variables.items():
        argv += ["-v", "%s=%s" % (k, v)]
    argv += ["-f", "-"]
    proc = subprocess.run(argv, input=sql, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError("psql failed: %s" % proc.stderr)
    return [line.split("\t") for line in proc.stdout.splitlines()]


class Cluster:
    """A private PostgreSQL cluster run by scripts/pgembed.sh in dir.
    With tcp, it also listens on 127.0.0.1 and dsn goes over TCP (as a
    deployment connects); sock_dsn is always the unix socket's."""

    def __init__(self, pgdir, tcp=False):
        self.dir = Path(pgdir)
        self.tcp_port = free_port() if tcp else None
        self.dsn = None
        self.sock_dsn = None
        self.started = False

    def start(self):
        pgembed("start", self.dir, tcp_port=self.tcp_port)
        self.started = True
        if self.dsn is None:
            self.sock_dsn = pgembed("dsn", self.dir).strip()
            self.dsn = self.sock_dsn
            if self.tcp_port is not None:
                self.dsn = pgembed("tcp-dsn", self.dir).strip()
        return self

    def stop(self):
        pgembed("stop", self.dir)

    def destroy(self):
        if self.started:
            pgembed("destroy", self.dir)
            self.started = False

    def psql(self, sql, **variables):
        return psql(self.dsn, sql, **variables)

    def new_database(self, migrated):
        """A fresh database in this cluster: its conninfo."""
        name = "e2e_" + uuid.uuid4().hex[:12]
        psql(with_dbname(self.dsn, "postgres"), "CREATE DATABASE %s" % name)
        dsn = with_dbname(self.dsn, name)
        if migrated:
            proc = run_bin(["migrate"], base_env(DATABASE_URL=dsn))
            assert proc.returncode == 0, proc.stderr
        return dsn


class Service:
    """One `userapi serve` process tree; stopped by the parent's PID."""

    def __init__(self, name, workdir, dsn, admin=False, **env):
        self.name = name
        self.admin = admin
        self.token = None
        self.auth = {}
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.log_path = self.workdir / "service.log"
        self.artifact = None
        settings = {"DATABASE_URL": dsn, "BIND": "127.0.0.1:%d" % self.port,
                    "WORKERS": 2}
        if admin:
            settings.update(ADMIN_EMAIL=ADMIN_EMAIL, ADMIN_PASSWORD=ADMIN_PASSWORD)
        settings.update(env)
        self.env = base_env(**settings)
        self.proc = None
        self.exit_status = None

    def start(self, ready_path="/healthz", timeout=30):
        logf = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                [str(BIN), "serve"], env=self.env, stdin=subprocess.DEVNULL,
                stdout=logf, stderr=subprocess.STDOUT, cwd=str(self.workdir),
                start_new_session=True)
        finally:
            logf.close()
        _services.append(self)
        _checked_urls.add(self.url)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %s at start:\n%s" % (
                    self.name, self.proc.returncode, self.log()))
            try:
                r = requests.get(self.url + ready_path, timeout=2)
                if r.status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("%s did not answer %s within %d s:\n%s" % (
                    self.name, ready_path, timeout, self.log()))
            time.sleep(0.1)
        if self.admin:
            self.token = self.login(ADMIN_EMAIL, ADMIN_PASSWORD)
            self.auth = {"Authorization": "Bearer " + self.token}
        return self

    def login(self, email, password):
        """POST /token; the access token."""
        r = requests.post(self.url + "/token", timeout=30,
                          data={"username": email, "password": password})
        assert r.status_code == 200, ("login", r.status_code, r.text)
        return r.json()["access_token"]

    def log(self):
        path = self.log_path
        if not path.exists() and self.artifact is not None:
            path = self.artifact
        return path.read_text(encoding="utf-8", errors="replace")

    def log_size(self):
        return self.log_path.stat().st_size

    def log_since(self, offset):
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", errors="replace")

    def stop(self):
        """SIGTERM the parent; SIGKILL it and its workers after STOP_GRACE s.
        A service must exit 0 on SIGTERM: anything else is a problem."""
        if self.proc is None or self.exit_status is not None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                _problems.append("%s: still running %d s after SIGTERM, "
                                 "killed" % (self.name, STOP_GRACE))
                workers = children_of(self.proc.pid)
                self.proc.kill()
                for pid in workers:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.proc.wait(10)
        self.exit_status = self.proc.returncode
        if self.exit_status != 0:
            _problems.append("%s: exit status %s after SIGTERM" % (
                self.name, self.exit_status))
        self.keep_log()

    def keep_log(self):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        dest = ARTIFACTS / ("%s.log" % self.name)
        try:
            shutil.copyfile(self.log_path, dest)
            self.artifact = dest
        except FileNotFoundError:
            pass

    def bad_lines(self):
        return bad_lines(self.log())


def bad_lines(text):
    """The lines of a log that say a worker died or a sanitizer fired.
    With LOG_FORMAT=json, Kore's own lines arrive wrapped: {"msg": line}."""
    out = []
    for line in text.splitlines():
        msg = line
        if line.startswith("{"):
            try:
                msg = json.loads(line).get("msg", line)
            except ValueError:
                pass
        if BAD_SIGNS.search(line) and not BENIGN.search(msg):
            out.append(line)
    return out


def children_of(ppid):
    """PIDs of the live processes whose parent is ppid (our workers)."""
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == ppid:
            kids.append(int(d))
    return kids


# --- the session: one cluster, one service ----------------------------------

@pytest.fixture(scope="session")
def session_dir():
    global _cli_log
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    _cli_log = ARTIFACTS / "commands.log"
    d = Path(tempfile.mkdtemp(prefix="userapi-e2e-"))
    d.chmod(0o755)		# postgres must reach it when we run as root
    yield d
    if not os.environ.get("USERAPI_E2E_KEEP"):
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def cluster(session_dir):
    if not BIN.is_file():
        pytest.exit("no binary at %s: run `make sanitize` (or set "
                    "USERAPI_BIN)" % BIN, returncode=2)
    c = Cluster(session_dir / "pg", tcp=True)
    try:
        c.start()
        yield c
    finally:
        _keep_pg_log(c, "postgresql-main")
        c.stop()
        c.destroy()


def _keep_pg_log(c, name):
    try:
        shutil.copyfile(c.dir / "postgresql.log", ARTIFACTS / ("%s.log" % name))
    except (FileNotFoundError, OSError):
        pass


@pytest.fixture(scope="session")
def migrated(cluster):
    proc = run_bin(["migrate"], base_env(DATABASE_URL=cluster.dsn))
    assert proc.returncode == 0, "migrate failed: %s%s" % (proc.stdout,
                                                          proc.stderr)
    return cluster


@pytest.fixture(scope="session")
def main_service(migrated, session_dir):
    svc = Service("service", session_dir, migrated.dsn, admin=True)
    try:
        svc.start()
        yield svc
    finally:
        svc.stop()


@pytest.fixture(scope="session")
def base_url(main_service):
    return main_service.url


@pytest.fixture(scope="session")
def dsn(migrated):
    """The conninfo of the main service's database (for psql)."""
    return migrated.dsn


@pytest.fixture(scope="session")
def auth(main_service):
    """Headers that make a request the admin's (ADMIN_EMAIL)."""
    return dict(main_service.auth)


@pytest.fixture
def http(base_url, auth):
    """A session that calls as the admin."""
    with requests.Session() as s:
        s.headers.update(auth)
        yield s


@pytest.fixture
def main_log(main_service):
    """The main service's log from the start of the test on; fails the
    test at once when a worker died or a sanitizer fired meanwhile."""
    start = main_service.log_size()

    class View:
        def text(self):
            return main_service.log_since(start)

        def wait_for(self, needle, timeout=5):
            deadline = time.monotonic() + timeout
            while True:
                text = self.text()
                for line in text.splitlines():
                    if needle in line:
                        return line
                if time.monotonic() > deadline:
                    raise AssertionError("no log line with %r in:\n%s" % (
                        needle, text))
                time.sleep(0.05)

    view = View()
    yield view
    bad = bad_lines(view.text())
    assert not bad, "the service log shows trouble:\n" + "\n".join(bad)


JSON_CT = "application/json; charset=utf-8"


def errors(r):
    """The (type, loc) pairs of a 422, after checking its shape."""
    assert r.status_code == 422, (r.status_code, r.text)
    assert r.headers["Content-Type"] == JSON_CT
    body = r.json()
    assert list(body) == ["detail"], body
    assert isinstance(body["detail"], list) and body["detail"], body
    out = []
    for e in body["detail"]:
        assert set(e) == {"type", "loc", "msg"}, e
        assert isinstance(e["msg"], str) and e["msg"], e
        assert e["loc"][0] in ("body", "query", "path", "header"), e
        out.append((e["type"], tuple(e["loc"])))
    return out


def unique_email(prefix="user", domain="example.com"):
    return "%s-%s@%s" % (prefix, uuid.uuid4().hex[:16], domain)


@pytest.fixture
def user_factory(http, base_url):
    """Create a user through the API; returns its JSON. ETag in .etags[id]."""

    def make(name="Test User", email=None, **fields):
        body = {"name": name, "email": email or unique_email()}
        body.update(fields)
        r = http.post(base_url + "/users", json=body)
        assert r.status_code == 201, (r.status_code, r.text)
        user = r.json()
        make.etags[user["id"]] = r.headers.get("ETag")
        return user

    make.etags = {}
    return make


# --- extra instances and clusters ------------------------------------------

class Extras:
    """Services and clusters for one test; everything stops at its end."""

    def __init__(self, session_dir, main_cluster, test_name):
        self.root = session_dir / "extra"
        self.root.mkdir(exist_ok=True)
        self.main_cluster = main_cluster
        self.test_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)[:80]
        self.services = []
        self.clusters = []

    def _dir(self, kind):
        d = Path(tempfile.mkdtemp(prefix=kind + "-", dir=self.root))
        d.chmod(0o755)
        return d

    def cluster(self, tcp=False):
        """A new cluster of its own, started (not migrated)."""
        c = Cluster(self._dir("pg") / "pg", tcp=tcp)
        self.clusters.append(c)
        c.start()
        return c

    def database(self, migrated=True):
        """A fresh database in the main cluster: its conninfo."""
        return self.main_cluster.new_database(migrated)

    def service(self, dsn, ready_path="/healthz", admin=False, **env):
        """Start an instance on dsn; with admin, ADMIN_EMAIL is created
        and svc.auth holds its bearer header."""
        name = "extra-%s-%d" % (self.test_name, len(_services))
        svc = Service(name, self._dir("svc"), dsn, admin=admin, **env)
        self.services.append(svc)
        svc.start(ready_path=ready_path)
        return svc

    def close(self):
        for svc in self.services:
            svc.stop()
        for i, c in enumerate(self.clusters):
            _keep_pg_log(c, "postgresql-%s-%d" % (self.test_name, i))
            try:
                c.stop()
            finally:
                c.destroy()


@pytest.fixture
def extra(request, session_dir, migrated):
    ex = Extras(session_dir, migrated, request.node.name)
    try:
        yield ex
    finally:
        ex.close()
    for svc in ex.services:
        bad = svc.bad_lines()
        assert not bad, "%s log shows trouble:\n%s" % (svc.name, "\n".join(bad))


# --- the end: fail the run on any sign of a dead worker ---------------------

def pytest_sessionfinish(session, exitstatus):
    for svc in _services:		# a teardown that did not run
        try:
            svc.stop()
        except Exception as e:		# noqa: BLE001 - report, go on
            _problems.append("%s: could not stop: %s" % (svc.name, e))

    found = []
    for svc in _services:
        try:
            lines = svc.bad_lines()
        except FileNotFoundError:
            _problems.append("%s: log not found" % svc.name)
            continue
        found += ["%s: %s" % (svc.name, line) for line in lines]
    if _cli_log is not None and _cli_log.exists():
        found += ["commands: %s" % line for line in
                  bad_lines(_cli_log.read_text(errors="replace"))]
    found += _problems

    if not found:
        return
    tr = session.config.pluginmanager.get_plugin("terminalreporter")
    say = tr.write_line if tr is not None else print
    say("")
    say("FAILED: a worker died, a sanitizer fired or a service hung "
        "(logs in %s):" % ARTIFACTS.relative_to(REPO))
    for line in found:
        say("  " + line)
    session.exitstatus = 1


def json_lines(text):
    """The lines of text that are JSON objects, parsed."""
    out = []
    for line in text.splitlines():
        try:
            v = json.loads(line)
        except ValueError:
            continue
        if isinstance(v, dict):
            out.append(v)
    return out
