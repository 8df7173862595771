# userapi: the command line where the database is not up yet or elsewhere: migrate --wait, create-admin from any directory, dev mode's kept secret.

import os
import shutil
import stat
import subprocess
import threading
import time
import uuid
from pathlib import Path

import requests

from conftest import (ADMIN_EMAIL, ADMIN_PASSWORD, BIN, PGEMBED, Service,
                      base_env, free_port, psql, run_bin)

TIMEOUT = 30


# --- userapi migrate --wait --------------------------------------------------

def test_migrate_waits_for_a_database_that_comes_up(extra):
    """--wait retries while the server is down, then migrates."""
    c = extra.cluster()
    c.stop()
    result = {}

    def migrate():
        result["proc"] = run_bin(["migrate", "--wait", "60"],
                                 base_env(DATABASE_URL=c.dsn), timeout=90)

    t = threading.Thread(target=migrate)
    t.start()
    time.sleep(1.5)
    assert t.is_alive(), result["proc"].stderr	# still waiting
    c.start()
    t.join(90)
    proc = result["proc"]
    assert proc.returncode == 0, proc.stderr
    assert "database not reachable yet, waiting up to 60 s" in proc.stderr
    assert "database reachable" in proc.stderr
    assert "applied migration" in proc.stdout
    assert c.psql("SELECT count(*) > 0 FROM schema_migrations") == [["t"]]


def test_migrate_without_wait_fails_at_once_and_wait_gives_up():
    dsn = "host=127.0.0.1 port=%d dbname=x user=x" % free_port()
    start = time.monotonic()
    proc = run_bin(["migrate"], base_env(DATABASE_URL=dsn))
    assert proc.returncode == 1
    assert "could not connect to database" in proc.stderr
    assert "waiting" not in proc.stderr
    assert time.monotonic() - start < 10

    start = time.monotonic()
    proc = run_bin(["migrate", "--wait", "2"], base_env(DATABASE_URL=dsn))
    took = time.monotonic() - start
    assert proc.returncode == 1, proc.stderr
    assert "waiting up to 2 s" in proc.stderr
    assert "could not connect to database" in proc.stderr
    assert 1.5 < took < 20, took


def test_migrate_refuses_bad_arguments():
    env = base_env(DATABASE_URL="host=/nonexistent dbname=x")
    for args in (["--wait"], ["--wait", "x"], ["--wait", "-1"],
                 ["--wait", "3601"], ["--wait", "5s"], ["now"],
                 ["--wait", "1", "2"]):
        proc = run_bin(["migrate"] + args, env)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "migrate" in proc.stderr, args
        assert "could not connect" not in proc.stderr, args


# --- create-admin from any directory -----------------------------------------

def test_create_admin_finds_the_private_cluster_next_to_the_binary(tmp_path):
    """With DATABASE_URL unset, a binary whose directory has var/ (the
    checkout after `make run`) uses that cluster from any directory."""
    home = tmp_path / "checkout"
    home.mkdir()
    shutil.copy(BIN, home / "userapi")
    pgdir = home / "var"
    env = dict(os.environ, PGEMBED_FAST="1")
    env.pop("DATABASE_URL", None)
    subprocess.run([str(PGEMBED), "start", str(pgdir)], env=env, check=True,
                   stdout=subprocess.DEVNULL, timeout=90)
    try:
        dsn = subprocess.run([str(PGEMBED), "dsn", str(pgdir)], env=env,
                             check=True, stdout=subprocess.PIPE, text=True,
                             timeout=30).stdout.strip()
        clean = base_env()
        clean.pop("DATABASE_URL", None)
        for args in (["migrate"], ["create-admin", "boss@example.com"]):
            proc = subprocess.run(
                [str(home / "userapi")] + args, cwd="/", timeout=60,
                env=dict(clean, ADMIN_PASSWORD="boss-password-1"),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            assert proc.returncode == 0, (args, proc.stderr)
        assert psql(dsn, "SELECT is_admin FROM users WHERE email = "
                         "'boss@example.com'") == [["t"]]
    finally:
        subprocess.run([str(PGEMBED), "stop", str(pgdir)], env=env,
                       timeout=60, stdout=subprocess.DEVNULL)


# --- dev mode keeps its secret under var/ ------------------------------------

def start(name, workdir, dsn, **env):
    svc = Service(name, workdir, dsn, admin=True, **env)
    svc.start()
    return svc


def login(url):
    r = requests.post(url + "/token", timeout=TIMEOUT, data={
        "username": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def me(url, token):
    return requests.get(url + "/users/me", timeout=TIMEOUT,
                        headers={"Authorization": "Bearer " + token})


def test_dev_mode_secret_survives_restarts_and_stays_in_dev_mode(extra,
                                                                  tmp_path):
    dsn = extra.database()
    work = tmp_path / "checkout"
    key = work / "var" / "jwt-secret"

    a = start("dev-secret-a", work, dsn, USERAPI_DEV=1, JWT_SECRET="")
    try:
        token = login(a.url)
    finally:
        a.stop()
    said = [l for l in a.log().splitlines() if "jwt-secret" in l]
    assert len(said) == 1 and "generated" in said[0], a.log()
    mode = stat.S_IMODE(key.stat().st_mode)
    assert mode == 0o600, oct(mode)
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    text = key.read_text()
    assert len(text) == 65 and text.endswith("\n")
    int(text, 16)

    # A restart (make run, make dev): the same key, nothing new said.
    b = start("dev-secret-b", work, dsn, USERAPI_DEV=1, JWT_SECRET="")
    try:
        assert me(b.url, token).status_code == 200
    finally:
        b.stop()
    # (one log file per working directory: a's lines and b's)
    assert b.log().count("generated") == 1, b.log()
    assert key.read_text() == text

    # Outside dev mode the kept key is never used.
    c = start("dev-secret-c", work, dsn, USERAPI_DEV=0)
    try:
        r = me(c.url, token)
        assert r.status_code == 401, r.text
    finally:
        c.stop()

    # A key that others may read is refused, naming the file.
    key.chmod(0o644)
    proc = subprocess.run([str(BIN), "serve"], cwd=str(work), timeout=60,
                          env=base_env(DATABASE_URL=dsn, USERAPI_DEV=1,
                                       JWT_SECRET="",
                                       BIND="127.0.0.1:%d" % free_port()),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
    assert proc.returncode == 2, proc.stderr
    assert "var/jwt-secret" in proc.stderr and "0600" in proc.stderr
