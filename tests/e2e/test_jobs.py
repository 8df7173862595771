# userapi: end-to-end tests of notification jobs: real SMTP sink, retries, leases, kill -9, two instances.
"""
Each test runs its own instance(s) on a database of its own, sending to
an SmtpSink (tests/e2e/smtp_sink.py) on a port of its own, with short
settings (leases of 2 s, retry delays capped at 1 s) so that retries and
reclaims happen within seconds. Mails are matched to jobs by their
Message-ID, which carries the job id.
"""

import concurrent.futures
import email.utils
import os
import signal
import time
import uuid

import pytest
import requests

from conftest import children_of, errors, free_port, unique_email
from smtp_sink import SmtpSink

MAIL_FROM = "userapi@e2e.example.com"
# The tests poll job states often: no rate limit on their own instances.
SHORT = {"JOB_LEASE_SECONDS": 2, "JOB_RETRY_MAX_SECONDS": 1,
         "SMTP_TIMEOUT_MS": 3000, "MAIL_FROM": MAIL_FROM,
         "RATE_LIMIT_GENERAL": 0}


@pytest.fixture
def sink():
    s = SmtpSink(free_port()).start()
    yield s
    s.stop()


def service(extra, sink, dsn=None, **env):
    settings = dict(SHORT, SMTP_URL="smtp://127.0.0.1:%d" % sink.port)
    settings.update(env)
    return extra.service(dsn or extra.database(), admin=True, **settings)


class Api:
    """Calls on one instance, as its admin or as a user."""

    def __init__(self, svc):
        self.svc = svc
        self.url = svc.url
        self.admin = svc.auth

    def user(self, name="Grace Hopper"):
        """A new user: (id, email, auth headers)."""
        email = unique_email("jobs")
        r = requests.post(self.url + "/users", timeout=30, json={
            "name": name, "email": email, "password": "password-123"})
        assert r.status_code == 201, r.text
        token = self.svc.login(email, "password-123")
        return r.json()["id"], email, {"Authorization": "Bearer " + token}

    def notify(self, uid, auth, status=202, **kw):
        r = requests.post("%s/users/%s/notify" % (self.url, uid),
                          headers=auth, timeout=30, **kw)
        assert r.status_code == status, (r.status_code, r.text)
        return r

    def job(self, job_id, auth=None):
        r = requests.get("%s/jobs/%s" % (self.url, job_id),
                         headers=auth or self.admin, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()

    def wait(self, job_id, status, timeout=30):
        """Poll the job until it has status; every state seen, in order."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            j = self.job(job_id)
            if not seen or seen[-1] != (j["status"], j["attempts"]):
                seen.append((j["status"], j["attempts"]))
            if j["status"] == status:
                return j, seen
            assert time.monotonic() < deadline, (
                "job %s never became %s: %r" % (job_id, status, seen))
            time.sleep(0.05)


def kill9(svc):
    """SIGKILL the instance's parent and workers by PID, no shutdown."""
    pids = [svc.proc.pid] + children_of(svc.proc.pid)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    svc.proc.wait(10)
    for pid in pids[1:]:
        deadline = time.monotonic() + 10
        while os.path.exists("/proc/%d" % pid):
            assert time.monotonic() < deadline, "worker %d survived" % pid
            time.sleep(0.05)
    svc.exit_status = svc.proc.returncode
    svc.keep_log()


# --- the mail ----------------------------------------------------------------

def test_mail_headers_and_body(extra, sink):
    api = Api(service(extra, sink))
    uid, mail_to, auth = api.user("Grace Hopper")
    r = api.notify(uid, auth)
    body = r.json()
    assert body["message"] == "Notification scheduled"
    job_id = body["job_id"]
    assert r.headers["Location"] == "/jobs/" + job_id

    j, _ = api.wait(job_id, "sent")
    assert j["kind"] == "email" and j["attempts"] == 1
    assert j["last_error"] is None
    assert api.job(job_id, auth)["status"] == "sent"	# its owner sees it

    [m] = sink.wait_for(lambda ms: len(ms) >= 1)
    assert m.mail_from == MAIL_FROM and m.rcpt_tos == [mail_to]
    assert m.header("From") == MAIL_FROM
    assert m.header("To") == mail_to
    assert m.subject == "Welcome!"
    assert m.message_id == "<%s@e2e.example.com>" % job_id
    assert m.header("MIME-Version") == "1.0"
    assert m.message.get_content_type() == "text/plain"
    assert m.message.get_content_charset() == "utf-8"
    date = email.utils.parsedate_to_datetime(m.header("Date"))
    assert abs(time.time() - date.timestamp()) < 120
    assert "Hello Grace Hopper," in m.body
    # Every header once; nothing but ASCII on the wire.
    for name in ("From", "To", "Subject", "Date", "Message-ID"):
        assert len(m.headers(name)) == 1, name
    m.raw.decode("ascii")


def test_custom_subject_and_message(extra, sink):
    api = Api(service(extra, sink))
    uid, _, auth = api.user()
    subject = "Grüße aus Zürich 🎉 " + "ü" * 60
    message = ("Line one = equals\n.\n..two dots\ncafé crème\r\n"
               + "x" * 300 + " \ttrailing  \nend")
    job_id = api.notify(uid, auth, json={"subject": subject,
                                         "message": message}).json()["job_id"]
    api.wait(job_id, "sent")
    [m] = sink.for_job(job_id)
    assert m.subject == subject
    assert m.body.replace("\r\n", "\n") == message.replace("\r\n", "\n") + "\n"
    assert m.raw.decode("ascii")
    assert all(len(line) <= 998 for line in m.raw.split(b"\r\n"))


@pytest.mark.parametrize("subject, message", [
    ("Hi\r\nBcc: victim@evil.example\r\nX-Injected: 1", "text"),
    ("Hi\nTo: victim@evil.example", "text"),
    ("Hi\r\n\r\nbody from the subject", "text"),
    ("Hi", "text\r\n.\r\nMAIL FROM:<x@evil.example>\r\n"
           "RCPT TO:<victim@evil.example>\r\nDATA\r\nSubject: evil\r\n\r\nx"),
    ("Hi", "\n.\nRCPT TO:<victim@evil.example>\n"),
])
def test_header_injection_is_harmless(extra, sink, subject, message):
    api = Api(service(extra, sink))
    uid, mail_to, auth = api.user()
    job_id = api.notify(uid, auth, json={"subject": subject,
                                         "message": message}).json()["job_id"]
    api.wait(job_id, "sent")
    time.sleep(0.3)
    mails = sink.received()
    assert len(mails) == 1, [m.raw for m in mails]
    [m] = mails
    assert m.rcpt_tos == [mail_to]
    assert m.headers("Bcc") == [] and m.headers("X-Injected") == []
    assert m.headers("To") == [mail_to]
    assert "\r" not in m.subject and "\n" not in m.subject
    assert m.subject.startswith("Hi")
    assert m.body.replace("\r\n", "\n").startswith(
        message.replace("\r\n", "\n") if subject == "Hi" else "text")


# --- retries and failures ----------------------------------------------------

def test_temporary_failures_retry_then_send(extra, sink):
    svc = service(extra, sink)
    api = Api(svc)
    uid, _, auth = api.user()
    sink.tempfail(3)
    job_id = api.notify(uid, auth).json()["job_id"]
    deadline = time.monotonic() + 30
    while (j := api.job(job_id))["last_error"] is None:
        assert time.monotonic() < deadline, j
        time.sleep(0.02)
    assert j["status"] in ("queued", "running") and "451" in j["last_error"]
    j, seen = api.wait(job_id, "sent")
    assert j["attempts"] == 4
    # Sent: no error left from the failed attempts (the log has them).
    assert j["last_error"] is None
    attempts = [a for _, a in seen]
    assert attempts == sorted(attempts), seen
    assert sink.answers.get(451) == 3
    assert len(sink.for_job(job_id)) == 1
    assert "attempt 1 of 5 failed" in svc.log()


def test_job_of_a_deleted_user_is_failed_not_retried(extra, sink):
    api = Api(service(extra, sink, JOB_MAX_ATTEMPTS=100))
    uid, _, auth = api.user()
    sink.tempfail(1000)
    job_id = api.notify(uid, auth).json()["job_id"]
    deadline = time.monotonic() + 30
    while api.job(job_id)["attempts"] < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    r = requests.delete("%s/users/%s" % (api.url, uid), headers=api.admin,
                        timeout=30)
    assert r.status_code == 204, r.text
    j, _ = api.wait(job_id, "failed")
    assert j["last_error"] == "user deleted"
    tried = j["attempts"]
    answered = sink.answers.get(451)
    time.sleep(2.5)				# over two retry delays
    assert api.job(job_id)["attempts"] == tried
    assert sink.answers.get(451) == answered and sink.received() == []
    assert "job %s failed: its user was deleted" % job_id in api.svc.log()
    # Replayed, it fails again at once: still never sent.
    r = requests.post("%s/jobs/%s/retry" % (api.url, job_id),
                      headers=api.admin, timeout=30)
    assert r.status_code == 200, r.text
    j, _ = api.wait(job_id, "failed")
    assert j["last_error"] == "user deleted" and j["attempts"] == 0
    assert sink.received() == []


def test_permanent_failure_fails_at_once(extra, sink):
    api = Api(service(extra, sink))
    uid, _, auth = api.user()
    sink.reject()
    job_id = api.notify(uid, auth).json()["job_id"]
    j, _ = api.wait(job_id, "failed")
    assert j["attempts"] == 1
    assert j["last_error"].startswith("smtp: 550")
    time.sleep(1.5)				# longer than any retry delay
    assert api.job(job_id)["attempts"] == 1
    assert sink.answers.get(550) == 1
    assert sink.received() == []


def test_out_of_attempts_fails_with_the_last_error(extra, sink):
    api = Api(service(extra, sink, JOB_MAX_ATTEMPTS=3))
    uid, _, auth = api.user()
    sink.tempfail(100)
    job_id = api.notify(uid, auth).json()["job_id"]
    j, _ = api.wait(job_id, "failed")
    assert j["attempts"] == 3 and "451" in j["last_error"]
    assert sink.answers.get(451) == 3


def test_sink_down_then_back(extra, sink):
    api = Api(service(extra, sink, JOB_MAX_ATTEMPTS=100))
    uid, _, auth = api.user()
    sink.stop()
    job_id = api.notify(uid, auth).json()["job_id"]
    deadline = time.monotonic() + 30
    while True:
        j = api.job(job_id)
        if j["attempts"] >= 3 and j["status"] == "queued":
            break
        assert j["status"] in ("queued", "running"), j
        assert time.monotonic() < deadline, j
        time.sleep(0.05)
    assert "connect" in j["last_error"].lower(), j
    sink.start()
    j, _ = api.wait(job_id, "sent")
    assert len(sink.for_job(job_id)) == 1


def test_hanging_server_never_blocks_requests(extra, sink):
    api = Api(service(extra, sink, SMTP_TIMEOUT_MS=2000, MAIL_MAX=4))
    uid, _, auth = api.user()
    sink.hang()
    ids = [api.notify(uid, auth).json()["job_id"] for _ in range(6)]
    deadline = time.monotonic() + 10
    while sink.hung < 2:
        assert time.monotonic() < deadline, "no mail reached DATA"
        time.sleep(0.05)
    # While every mail slot hangs, the service answers (liveness only).
    for _ in range(20):
        assert requests.get(api.url + "/healthz", timeout=5).status_code \
            == 200
        r = requests.get(api.url + "/users/me", headers=auth, timeout=5)
        assert r.status_code == 200
    j, _ = api.wait(ids[0], "queued", timeout=15)
    assert "Timeout" in j["last_error"], j
    sink.release()
    for job_id in ids:
        api.wait(job_id, "sent")
        assert len(sink.for_job(job_id)) == 1


def test_slow_alive_sender_is_not_doubled(extra, sink):
    """A mail whose DATA takes twice the lease: its worker renews the
    lease, so no other worker takes the job over and sends it again."""
    api = Api(service(extra, sink, SMTP_TIMEOUT_MS=20000))
    uid, _, auth = api.user()
    sink.delay(5)
    job_id = api.notify(uid, auth).json()["job_id"]
    j, _ = api.wait(job_id, "sent", timeout=30)
    assert j["attempts"] == 1 and j["last_error"] is None
    time.sleep(2.5)
    assert len(sink.for_job(job_id)) == 1


def test_retry_of_a_failed_job(extra, sink):
    api = Api(service(extra, sink))
    uid, _, auth = api.user()
    sink.reject()
    job_id = api.notify(uid, auth).json()["job_id"]
    api.wait(job_id, "failed")
    r = requests.post("%s/jobs/%s/retry" % (api.url, job_id), headers=auth,
                      timeout=30)
    assert r.status_code == 403, r.text
    # The dead letters: failed jobs, for admins.
    r = requests.get(api.url + "/jobs", headers=api.admin, timeout=30,
                     params={"status": "failed"})
    assert [x["id"] for x in r.json()] == [job_id]

    sink.accept()
    r = requests.post("%s/jobs/%s/retry" % (api.url, job_id),
                      headers=api.admin, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "queued" and r.json()["attempts"] == 0
    j, _ = api.wait(job_id, "sent")
    assert j["attempts"] == 1
    assert len(sink.for_job(job_id)) == 1
    r = requests.post("%s/jobs/%s/retry" % (api.url, job_id),
                      headers=api.admin, timeout=30)
    assert r.status_code == 409
    assert r.json() == {"detail": "Only a failed job can be retried"}


# --- many workers, many instances, crashes -----------------------------------

def test_two_instances_deliver_each_mail_exactly_once(extra, sink):
    dsn = extra.database()
    a = Api(service(extra, sink, dsn=dsn))
    b = Api(service(extra, sink, dsn=dsn))
    users = [a.user("User %d" % i) for i in range(4)]

    def one(i):
        api = (a, b)[i % 2]
        uid, _, auth = users[i % len(users)]
        return api.notify(uid, auth).json()["job_id"]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(one, range(200)))
    assert len(set(ids)) == 200
    sink.wait_for(lambda ms: len(ms) >= 200, timeout=60, what="200 mails")
    time.sleep(1.5)				# anything doubled would show
    mails = sink.received()
    got = sorted(m.message_id.split("@")[0].lstrip("<") for m in mails)
    assert got == sorted(ids)
    r = requests.get(a.url + "/jobs", headers=a.admin, timeout=30,
                     params={"status": "sent", "limit": 100, "skip": 100})
    assert len(r.json()) == 100


def test_kill9_loses_nothing_and_sends_once(extra, sink):
    dsn = extra.database()
    svc = service(extra, sink, dsn=dsn, MAIL_MAX=2, SMTP_TIMEOUT_MS=30000)
    api = Api(svc)
    uid, _, auth = api.user()
    sink.hang()
    ids = [api.notify(uid, auth).json()["job_id"] for _ in range(12)]
    # Two workers, two mails each: four are mid-DATA, the rest queued.
    deadline = time.monotonic() + 15
    while sink.hung < 4:
        assert time.monotonic() < deadline, "mails did not reach DATA"
        time.sleep(0.05)
    statuses = {api.job(i)["status"] for i in ids}
    assert statuses == {"running", "queued"}, statuses
    kill9(svc)
    sink.release()				# the cut mails were never accepted

    again = Api(service(extra, sink, dsn=dsn))
    for job_id in ids:
        again.wait(job_id, "sent", timeout=30)
    time.sleep(1.5)
    for job_id in ids:
        assert len(sink.for_job(job_id)) == 1, job_id
    assert len(sink.received()) == len(ids)
    assert "reclaimed" in again.svc.log()


# --- who may do what, and bad input ------------------------------------------

def test_authorisation(extra, sink):
    api = Api(service(extra, sink))
    a_id, _, a_auth = api.user("A")
    b_id, _, b_auth = api.user("B")
    api.notify(b_id, a_auth, status=404)			# not someone else
    api.notify(str(uuid.uuid4()), api.admin, status=404)
    api.notify(a_id, {}, status=401)
    api.notify(a_id, {"Authorization": "Bearer nope"}, status=401)
    a_job = api.notify(a_id, a_auth).json()["job_id"]
    b_job = api.notify(b_id, api.admin).json()["job_id"]	# admin: anyone
    api.wait(b_job, "sent")

    def get(path, auth):
        return requests.get(api.url + path, headers=auth, timeout=30)

    assert get("/jobs/" + a_job, a_auth).status_code == 200
    r = get("/jobs/" + b_job, a_auth)
    assert r.status_code == 404 and r.json() == {"detail": "Job not found"}
    assert get("/jobs/" + b_job, b_auth).status_code == 200
    assert get("/jobs/" + a_job, {}).status_code == 401
    assert get("/jobs", a_auth).status_code == 403
    assert get("/jobs", {}).status_code == 401
    listed = get("/jobs?limit=100", api.admin).json()
    assert [j["id"] for j in listed][:2] == [b_job, a_job]	# newest first
    for path in ("/jobs/%s/retry" % b_job, "/jobs/%s/retry" % uuid.uuid4()):
        r = requests.post(api.url + path, headers=a_auth, timeout=30)
        assert r.status_code == 403, r.text
    r = requests.post(api.url + "/jobs/%s/retry" % uuid.uuid4(),
                      headers=api.admin, timeout=30)
    assert r.status_code == 404


def test_bad_input(extra, sink):
    api = Api(service(extra, sink))
    uid, _, auth = api.user()
    url = "%s/users/%s/notify" % (api.url, uid)

    def post(headers=None, **kw):
        return requests.post(url, headers=dict(auth, **(headers or {})),
                             timeout=30, **kw)

    assert errors(requests.post(api.url + "/users/nope/notify", headers=auth,
                                timeout=30)) == [("uuid_parsing",
                                                  ("path", "user_id"))]
    assert errors(requests.post(api.url + "/users/nope/notify", headers=auth,
                                json={"x": 1}, timeout=30)) == [
        ("uuid_parsing", ("path", "user_id")),
        ("extra_forbidden", ("body", "x"))]
    assert errors(post(json={"subject": "", "message": "m" * 5001,
                             "to": "victim@evil.example"})) == [
        ("string_too_short", ("body", "subject")),
        ("string_too_long", ("body", "message")),
        ("extra_forbidden", ("body", "to"))]
    assert errors(post(json={"subject": "s" * 201})) == [
        ("string_too_long", ("body", "subject"))]
    assert errors(post(json={"subject": 1, "message": None})) == [
        ("string_type", ("body", "subject")),
        ("string_type", ("body", "message"))]
    assert errors(post(json=["subject"])) == [
        ("model_attributes_type", ("body",))]
    [(kind, loc)] = errors(post(data=b'{"subject": "x",', headers={
        "Content-Type": "application/json"}))
    assert kind == "json_invalid" and loc[0] == "body"
    r = post(data=b"subject=x", headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415
    r = post(data=b'{"message": "' + b"x" * 2000000 + b'"}', headers={
        "Content-Type": "application/json"})
    assert r.status_code == 413
    # The longest subject and message are fine; so is JSON null.
    post_ok = post(json={"subject": "é" * 200, "message": "é" * 5000})
    assert post_ok.status_code == 202, post_ok.text
    assert post(data=b"null", headers={
        "Content-Type": "application/json"}).status_code == 202

    for path, loc in (("/jobs/x", "job_id"), ("/jobs/x/retry", "job_id")):
        method = "POST" if path.endswith("retry") else "GET"
        r = requests.request(method, api.url + path, headers=api.admin,
                             timeout=30)
        assert errors(r) == [("uuid_parsing", ("path", loc))]
    r = requests.get(api.url + "/jobs", headers=api.admin, timeout=30,
                     params={"status": "done", "skip": "-1", "limit": 101})
    assert errors(r) == [("greater_than_equal", ("query", "skip")),
                         ("less_than_equal", ("query", "limit")),
                         ("enum", ("query", "status"))]
    r = requests.put(url, headers=auth, timeout=30)
    assert r.status_code == 405 and r.headers["Allow"] == "POST"
    api.wait(post_ok.json()["job_id"], "sent")
    m = sink.for_job(post_ok.json()["job_id"])[0]
    assert m.subject == "é" * 200
    assert m.body.replace("\r\n", "\n") == "é" * 5000 + "\n"


def test_metrics_count_jobs_by_status(extra, sink):
    api = Api(service(extra, sink))
    uid, _, auth = api.user()
    sink.reject()
    api.wait(api.notify(uid, auth).json()["job_id"], "failed")
    sink.accept()
    api.wait(api.notify(uid, auth).json()["job_id"], "sent")
    # Each worker counts when scraped, at most every 5 s: poll.
    want = {"queued": "0", "running": "0", "sent": "1", "failed": "1"}
    deadline = time.monotonic() + 30
    while True:
        r = requests.get(api.url + "/metrics", timeout=10)
        assert r.status_code == 200
        got = {}
        for line in r.text.splitlines():
            if line.startswith("userapi_jobs{status=\""):
                name, value = line.rsplit(" ", 1)
                got[name[len("userapi_jobs{status=\""):-2]] = value
        if got == want:
            break
        assert time.monotonic() < deadline, (got, r.text)
        time.sleep(0.5)
