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

Every answer it gave is counted in sink.answers (code -> count).
"""

import asyncio
import email
import email.policy
import threading
import time

from aiosmtpd.controller import Controller


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
    def __init__(self, port):
        self.port = port
        self.lock = threading.Lock()
        self.mails = []
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

    def start(self):
        self.closing = False
        self.controller = Controller(_Handler(self), hostname="127.0.0.1",
                                     port=self.port, ready_timeout=10)
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
