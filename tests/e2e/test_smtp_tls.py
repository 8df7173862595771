# userapi: end-to-end tests of notification mail over TLS (smtps, STARTTLS) and SMTP AUTH, against a real TLS sink.
"""
The sink (tests/e2e/smtp_sink.py) speaks TLS with a certificate that a
throwaway CA signed, both made with openssl in the test's temporary
directory. The service trusts that CA only through SMTP_CA_FILE: by
default it verifies against the system's bundle, which does not have it.
Every test runs with the seccomp sandbox on (the harness fails the run if
a worker died).
"""

import secrets
import urllib.parse

import pytest

from conftest import base_env, free_port, run_bin
from smtp_sink import SmtpSink, make_certs
from test_jobs import Api, service

# aiosmtpd warns about AUTH without STARTTLS on smtps, where all is TLS.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Requiring AUTH while not requiring TLS")

USER = "relay-user"
# A password with characters that must be percent-encoded in the URL.
PASSWORD = "p@ss:" + secrets.token_hex(8)
QUOTED = urllib.parse.quote(PASSWORD, safe="")


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    base = tmp_path_factory.mktemp("smtp-tls")
    good = make_certs(base / "good")
    return {"good": good, "other": make_certs(base / "other"),
            "misnamed": make_certs(base / "misnamed", ca=good,
                                   name="mail.example.invalid")}


@pytest.fixture
def sinks():
    started = []

    def start(**kw):
        s = SmtpSink(free_port(), **kw).start()
        started.append(s)
        return s
    yield start
    for s in started:
        s.stop()


def url(scheme, sink, creds=None):
    return "%s://%s127.0.0.1:%d" % (scheme, creds + "@" if creds else "",
                                     sink.port)


def no_secret(api, *jobs):
    """The password is in no log line and no job's last_error."""
    log = api.svc.log()
    for needle in (PASSWORD, QUOTED, PASSWORD.split(":")[1]):
        assert needle not in log
        for j in jobs:
            assert needle not in (j["last_error"] or "")


@pytest.mark.parametrize("tls, scheme", [("implicit", "smtps"),
                                         ("starttls", "smtp+starttls")])
def test_tls_delivery(extra, certs, sinks, tls, scheme):
    sink = sinks(tls=tls, cert=certs["good"])
    api = Api(service(extra, sink, SMTP_URL=url(scheme, sink),
                      SMTP_CA_FILE=certs["good"]["ca"]))
    uid, mail_to, auth = api.user()
    ids = [api.notify(uid, auth).json()["job_id"] for _ in range(3)]
    for job_id in ids:
        j, _ = api.wait(job_id, "sent")
        assert j["attempts"] == 1 and j["last_error"] is None
        [m] = sink.for_job(job_id)
        assert m.rcpt_tos == [mail_to]
    # Every MAIL FROM came over TLS.
    assert sink.mail_commands == [True] * 3


def test_starttls_required_but_not_offered(extra, sinks):
    sink = sinks()				# plain SMTP, no STARTTLS
    api = Api(service(extra, sink, SMTP_URL=url("smtp+starttls", sink),
                      JOB_MAX_ATTEMPTS=2))
    uid, _, auth = api.user()
    job_id = api.notify(uid, auth).json()["job_id"]
    j, seen = api.wait(job_id, "failed")
    assert j["attempts"] == 2, seen
    assert j["last_error"] == ("tls: STARTTLS is required but the SMTP "
                               "server does not offer it; nothing was sent")
    # Never sent in clear: the dialogue stopped after EHLO.
    assert sink.mail_commands == [] and sink.received() == []
    assert "attempt 1 of 2 failed (tls: STARTTLS is required" in \
        api.svc.log()


@pytest.mark.parametrize("tls, scheme", [("implicit", "smtps"),
                                         ("starttls", "smtp+starttls")])
def test_auth_delivers(extra, certs, sinks, tls, scheme):
    sink = sinks(tls=tls, cert=certs["good"], users={USER: PASSWORD})
    api = Api(service(extra, sink, SMTP_CA_FILE=certs["good"]["ca"],
                      SMTP_URL=url(scheme, sink, USER + ":" + QUOTED)))
    uid, _, auth = api.user()
    job_id = api.notify(uid, auth).json()["job_id"]
    j, _ = api.wait(job_id, "sent")
    assert len(sink.for_job(job_id)) == 1
    assert sink.logins and all(x == (USER, True) for x in sink.logins)
    assert sink.mail_commands == [True]
    no_secret(api, j)


def test_auth_wrong_password_fails_at_once(extra, certs, sinks):
    sink = sinks(tls="starttls", cert=certs["good"], users={USER: PASSWORD})
    wrong = "wrong-" + secrets.token_hex(8)
    api = Api(service(extra, sink, SMTP_CA_FILE=certs["good"]["ca"],
                      SMTP_URL=url("smtp+starttls", sink,
                                   USER + ":" + wrong)))
    uid, _, auth = api.user()
    job_id = api.notify(uid, auth).json()["job_id"]
    j, _ = api.wait(job_id, "failed")
    assert j["attempts"] == 1, j["last_error"]	# 535: permanent
    assert j["last_error"].startswith("smtp: 535"), j
    assert sink.logins == [(USER, False)]
    assert sink.mail_commands == [] and sink.received() == []
    no_secret(api, j)
    assert wrong not in api.svc.log() and wrong not in j["last_error"]


@pytest.mark.parametrize("tls", ["implicit", "starttls"])
@pytest.mark.parametrize("ca, served, why", [
    (None, "good", "unable to get local issuer certificate"),
    ("other", "good", "unable to get local issuer certificate"),
    ("good", "misnamed", "no alternative certificate subject name"),
])
def test_untrusted_certificate_is_not_used(extra, certs, sinks, tls, ca,
                                           served, why):
    """Nothing is sent to a server whose certificate the service does not
    trust: without SMTP_CA_FILE (the system's CAs), with another CA's
    file, or a trusted certificate for another name."""
    sink = sinks(tls=tls, cert=certs[served], users={USER: PASSWORD})
    env = {"SMTP_URL": url("smtps" if tls == "implicit" else
                           "smtp+starttls", sink, USER + ":" + QUOTED),
           "JOB_MAX_ATTEMPTS": 2}
    if ca is not None:
        env["SMTP_CA_FILE"] = certs[ca]["ca"]
    api = Api(service(extra, sink, **env))
    uid, _, auth = api.user()
    job_id = api.notify(uid, auth).json()["job_id"]
    j, _ = api.wait(job_id, "failed")
    assert j["attempts"] == 2			# temporary: retried
    assert j["last_error"].startswith(
        "tls: the SMTP server's certificate is not trusted (SMTP_CA_FILE)"), j
    assert why in j["last_error"], j
    assert sink.logins == [] and sink.mail_commands == []
    assert sink.received() == []
    no_secret(api, j)


@pytest.mark.parametrize("env, message", [
    ({"SMTP_URL": "smtp://%s:%s@127.0.0.1:25" % (USER, QUOTED)},
     "invalid SMTP_URL: user:password@ needs smtps:// or smtp+starttls:// "
     "(a password is never sent in clear)"),
    ({"SMTP_URL": "smtps://127.0.0.1:465",
      "SMTP_CA_FILE": "/nonexistent/ca.pem"},
     "invalid SMTP_CA_FILE: could not open /nonexistent/ca.pem"),
    ({"SMTP_URL": "smtps://127.0.0.1:465", "SMTP_CA_FILE": "/etc/hostname"},
     "invalid SMTP_CA_FILE: /etc/hostname is not a PEM file"),
])
def test_bad_smtp_settings_stop_the_start(env, message):
    e = base_env(DATABASE_URL="host=/nonexistent",
                 BIND="127.0.0.1:%d" % free_port(), WORKERS=1, **env)
    proc = run_bin(["serve"], e, timeout=20)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert PASSWORD not in proc.stderr and QUOTED not in proc.stderr
