# userapi: the browser tests (tests/browser/run.js: Debian chromium driven by playwright-core) against a service of their own.
"""
A service on a cluster of its own (one worker, JWT_SECRET set by the
harness), a user for Swagger UI's "Authorize", then the node script:
/docs (Authorize, Try it out on GET /users/me), /redoc (renders, search),
the demo page (sign up, log in, edit, change the password). Screenshots
and the script's output go to tests/artifacts/browser/.

Skipped only when chromium or node is missing (packages.txt installs both
for `make test`); a missing playwright-core (npm ci, run by the build) is a
failure.
"""

import os
import shutil
import signal
import subprocess
import uuid
from pathlib import Path

import pytest
import requests

import openapi_check
from conftest import base_env, free_port, run_bin
from smtp_sink import SmtpSink

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tests" / "browser" / "run.js"
ARTIFACTS = REPO / "tests" / "artifacts" / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
NODE = shutil.which("node") or shutil.which("nodejs")
PLAYWRIGHT = REPO / "node_modules" / "playwright-core" / "package.json"

pytestmark = [
    pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK),
                       reason="no chromium at %s (Debian package chromium, "
                              "role test in packages.txt)" % CHROMIUM),
    pytest.mark.skipif(NODE is None,
                       reason="no node (Debian package nodejs, role build "
                              "in packages.txt)"),
]


def run_node(env, timeout=240):
    """Run the script in a process group of its own: (output, exit
    status); on timeout the group (node and its chromium) is killed."""
    proc = subprocess.Popen([NODE, str(SCRIPT)], cwd=str(REPO), env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        out += b"\n(killed after %d s)" % timeout
        rc = None
    return out.decode("utf-8", errors="replace"), rc


@pytest.fixture
def sink():
    """An SMTP server of its own for the demo's welcome e-mail."""
    s = SmtpSink(free_port()).start()
    yield s
    s.stop()


@pytest.fixture
def browser_service(extra, sink):
    """A migrated cluster of its own and one worker on it, mailing to
    the sink."""
    c = extra.cluster()
    proc = run_bin(["migrate"], base_env(DATABASE_URL=c.dsn))
    assert proc.returncode == 0, proc.stderr
    return extra.service(c.dsn, ready_path="/readyz", WORKERS=1,
                         SMTP_URL="smtp://127.0.0.1:%d" % sink.port)


def test_pages_in_a_browser(browser_service, sink):
    assert PLAYWRIGHT.is_file(), (
        "node_modules/playwright-core is missing: the build runs `npm ci` "
        "(make assets-vendor)")
    url = browser_service.url
    email = "docs-%s@example.com" % uuid.uuid4().hex[:12]
    password = "docs-" + uuid.uuid4().hex

    r = requests.post(url + "/users", timeout=30,
                      json={"name": "Docs User", "email": email,
                            "password": password})
    assert r.status_code == 201, r.text
    openapi_check.check_response(r)

    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    env = dict(os.environ, USERAPI_URL=url, USERAPI_ARTIFACTS=str(ARTIFACTS),
               USERAPI_DOCS_EMAIL=email, USERAPI_DOCS_PASSWORD=password,
               CHROMIUM=CHROMIUM)
    out, rc = run_node(env)
    (ARTIFACTS / "run.log").write_text(out, encoding="utf-8")

    assert rc == 0, "browser tests failed (exit %s):\n%s" % (rc, out)
    for name in ("ok docs", "ok docs-schemas", "ok conventions", "ok redoc",
                 "ok demo"):
        assert name in out, out
    for png in ("docs", "docs-authorized", "docs-try-it-out", "docs-schemas",
                "conventions", "redoc",
                "demo", "demo-profile", "demo-mail", "demo-chat"):
        f = ARTIFACTS / (png + ".png")
        assert f.is_file() and f.stat().st_size > 1000, f
    # The demo's welcome e-mail reached the SMTP server.
    assert len(sink.received()) == 1, sink.received()
