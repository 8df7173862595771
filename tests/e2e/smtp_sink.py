# userapi: an SMTP sink for the tests (aiosmtpd in a thread): keeps every mail, fails or hangs on demand.
"""
SmtpSink(port) listens on 127.0.0.1:port (a port of its own) and keeps
each accepted mail as a Mail (envelope, headers, decoded body). What it
answers to DATA is set per test:

    sink.accept()            250 (the default)
    sink.tempfail(n)         451 for the next n mails, then 250
    sink.reject()            550 for every mail
    sink.hang()              never answers DATA until release(), then 421
    sink.delay(seconds)      answers DATA 250 after that long
    sink.stop() / start()    down (connection refused) and back up

Every answer it gave is counted in sink.answers (code -> count); each
MAIL FROM it was sent is noted in sink.mail_commands (True when it came
over TLS), each AUTH in sink.logins (login, accepted).

TLS and AUTH, as a real relay asks for them (certificates from
make_certs, made at run time in the test's temporary directory):

    SmtpSink(port, tls="implicit", cert=c)      smtps: TLS from the start
    SmtpSink(port, tls="starttls", cert=c)      STARTTLS offered, required
                                                before MAIL
    SmtpSink(..., users={"ada": "secret"})      AUTH (PLAIN, LOGIN) required
                                                before MAIL, only over TLS
"""

import asyncio
import email
import email.policy
import os
import ssl
import subprocess
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def make_certs(directory, name="127.0.0.1", ca=None):
    """A throwaway CA (or the one of an earlier call's answer, ca) and a
    server certificate it signed for name (an IP address or a DNS name),
    in directory: a dict of PEM file paths ca, ca_key, cert, key."""
    d = str(directory)
    os.makedirs(d, exist_ok=True)
    ca_key, ca_pem = os.path.join(d, "ca.key"), os.path.join(d, "ca.pem")
    if ca is not None:
        ca_key, ca_pem = ca["ca_key"], ca["ca"]
    key, csr = os.path.join(d, "server.key"), os.path.join(d, "server.csr")
    cert, ext = os.path.join(d, "server.pem"), os.path.join(d, "server.ext")
    san = ("IP:" if name.replace(".", "").isdigit() else "DNS:") + name
    with open(ext, "w", encoding="ascii") as f:
        f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\n"
                "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n"
                % san)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    steps = [
        ["openssl", "req"] + ec + ["-subj", "/CN=" + name,
                                   "-keyout", key, "-out", csr],
        ["openssl", "x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey",
         ca_key, "-set_serial", str(int.from_bytes(os.urandom(8), "big")),
         "-days", "2", "-extfile", ext, "-out", cert]]
    if ca is None:
        steps.insert(0, ["openssl", "req", "-x509"] + ec + [
            "-days", "2", "-subj", "/CN=userapi test CA",
            "-keyout", ca_key, "-out", ca_pem])
    for argv in steps:
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=60)
    return {"ca": ca_pem, "ca_key": ca_key, "cert": cert, "key": key}


class Mail:
    def __init__(self, envelope):
        self.mail_from = envelope.mail_from
        self.rcpt_tos = list(envelope.rcpt_tos)
        self.raw = envelope.original_content or envelope.content
        self.message = email.message_from_bytes(self.raw,
                                                policy=email.policy.default)
        self.received = time.monotonic()

    def header(self, name):
        return self.message[name]

    def headers(self, name):
        return self.message.get_all(name) or []

    @property
    def subject(self):
        return str(self.message["Subject"])

    @property
    def body(self):
        return self.message.get_content()

    @property
    def message_id(self):
        return str(self.message["Message-ID"])


class _Handler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_MAIL(self, server, session, envelope, address,
                          mail_options):
        with self.sink.lock:
            # An smtps socket speaks nothing but TLS (aiosmtpd only
            # notes a STARTTLS in session.ssl).
            self.sink.mail_commands.append(session.ssl is not None or
                                           self.sink.tls == "implicit")
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        sink = self.sink
        with sink.lock:
            mode = sink.mode
            if mode == "tempfail" and sink.tempfails <= 0:
                mode = sink.mode = "accept"
            if mode == "tempfail":
                sink.tempfails -= 1
        if mode == "hang":
            sink.hung += 1
            while sink.mode == "hang" and not sink.closing:
                await asyncio.sleep(0.05)
            return sink._answer("421 4.3.0 Closing")
        if mode == "delay":
            await asyncio.sleep(sink.seconds)
        if mode == "tempfail":
            return sink._answer("451 4.3.0 Try again later")
        if mode == "reject":
            return sink._answer("550 5.7.1 Message rejected by policy")
        mail = Mail(envelope)
        with sink.lock:
            sink.mails.append(mail)
        return sink._answer("250 2.0.0 OK")


class SmtpSink:
    def __init__(self, port, tls=None, cert=None, users=None):
        assert tls in (None, "implicit", "starttls")
        self.port = port
        self.tls = tls
        self.cert = cert
        self.users = users
        self.lock = threading.Lock()
        self.mails = []
        self.mail_commands = []
        self.logins = []
        self.answers = {}
        self.mode = "accept"
        self.tempfails = 0
        self.hung = 0
        self.seconds = 0
        self.closing = False
        self.controller = None

    def _answer(self, line):
        code = int(line[:3])
        with self.lock:
            self.answers[code] = self.answers.get(code, 0) + 1
        return line

    def _authenticate(self, server, session, envelope, mechanism, data):
        ok = (isinstance(data, LoginPassword) and self.users is not None
              and self.users.get(data.login.decode("utf-8", "replace"))
              == data.password.decode("utf-8", "replace"))
        with self.lock:
            self.logins.append((data.login.decode("utf-8", "replace")
                                if isinstance(data, LoginPassword) else None,
                                ok))
        # handled=False: aiosmtpd answers 535 itself on a failure.
        return AuthResult(success=ok, handled=False)

    def start(self):
        self.closing = False
        kw = {}
        if self.tls is not None:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(self.cert["cert"], self.cert["key"])
            if self.tls == "implicit":
                kw["ssl_context"] = ctx
            else:
                kw.update(tls_context=ctx, require_starttls=True)
        if self.users is not None:
            # aiosmtpd offers AUTH after STARTTLS only; on smtps the
            # whole connection is TLS, so it may offer it at once.
            kw.update(authenticator=self._authenticate, auth_required=True,
                      auth_require_tls=self.tls != "implicit")
        self.controller = Controller(_Handler(self), hostname="127.0.0.1",
                                     port=self.port, ready_timeout=10, **kw)
        self.controller.start()
        return self

    def stop(self):
        if self.controller is not None:
            self.closing = True
            self.controller.stop()
            self.controller = None

    # --- what DATA answers -------------------------------------------------

    def accept(self):
        self.mode = "accept"

    def tempfail(self, n):
        with self.lock:
            self.tempfails = n
            self.mode = "tempfail"

    def reject(self):
        self.mode = "reject"

    def hang(self):
        self.mode = "hang"

    def delay(self, seconds):
        self.seconds = seconds
        self.mode = "delay"

    def release(self):
        self.mode = "accept"

    # --- what arrived ------------------------------------------------------

    def received(self):
        with self.lock:
            return list(self.mails)

    def for_job(self, job_id):
        """The mails whose Message-ID carries job_id."""
        return [m for m in self.received() if job_id in m.message_id]

    def wait_for(self, pred, timeout=20, what="mail"):
        """Wait until pred(mails) is true; returns the mails."""
        deadline = time.monotonic() + timeout
        while True:
            mails = self.received()
            if pred(mails):
                return mails
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for %s; got %d "
                                     "mails, answers %r" % (
                                         what, len(mails), self.answers))
            time.sleep(0.05)
