# userapi: end-to-end tests of TLS on Kore's own listener, with the private key in the keymgr only.
"""
TLS_CERT_FILE and TLS_KEY_FILE turn the BIND listener into HTTPS. The
certificates are made here, at test time, by `openssl req -x509` in a
temporary directory (one RSA, one ECDSA); nothing is committed. requests
trusts them through REQUESTS_CA_BUNDLE while this module runs, so the
harness's OpenAPI check still sees every answer.
"""

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

from conftest import (ADMIN_EMAIL, ADMIN_PASSWORD, Service, base_env,
                      children_of, run_bin)

KINDS = {
    "rsa": ["-newkey", "rsa:2048"],
    "ecdsa": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
}
HSTS = "max-age=31536000; includeSubDomains"


def make_cert(d, kind):
    """A self-signed certificate for 127.0.0.1 and its key (mode 0600)."""
    cert, key = d / (kind + ".crt"), d / (kind + ".key")
    subprocess.run(
        ["openssl", "req", "-x509", "-nodes", "-days", "1",
         "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)] + KINDS[kind],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    key.chmod(0o600)
    return cert, key


@pytest.fixture(scope="module")
def certs():
    d = Path(tempfile.mkdtemp(prefix="userapi-tls-"))
    d.chmod(0o755)
    out = {kind: make_cert(d, kind) for kind in KINDS}
    bundle = d / "ca.pem"
    bundle.write_bytes(b"".join(c.read_bytes() for c, _ in out.values()))
    old = os.environ.get("REQUESTS_CA_BUNDLE")
    os.environ["REQUESTS_CA_BUNDLE"] = str(bundle)
    try:
        yield out
    finally:
        if old is None:
            del os.environ["REQUESTS_CA_BUNDLE"]
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = old
        shutil.rmtree(d, ignore_errors=True)


class TLSService(Service):
    """The harness's service, on https."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.url = "https://127.0.0.1:%d" % self.port


def start_tls(root, name, dsn, cert, key, **env):
    """A TLS instance, its directory in root (the session's, removed at
    its end)."""
    d = Path(tempfile.mkdtemp(prefix="tls-svc-", dir=root))
    d.chmod(0o755)
    svc = TLSService(name, d, dsn, admin=True, TLS_CERT_FILE=str(cert),
                     TLS_KEY_FILE=str(key), **env)
    return svc.start()


@pytest.fixture(scope="module", params=sorted(KINDS))
def tls(request, certs, migrated, session_dir):
    kind = request.param
    cert, key = certs[kind]
    svc = start_tls(session_dir, "tls-" + kind, migrated.new_database(True),
                    cert, key)
    svc.kind, svc.cert, svc.key = kind, cert, key
    try:
        yield svc
    finally:
        svc.stop()
    bad = svc.bad_lines()
    assert not bad, "%s log shows trouble:\n%s" % (svc.name, "\n".join(bad))


def client_ctx(svc, version=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(str(svc.cert))
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = version
    return ctx


def https_get(svc, ctx, path="/healthz"):
    """One GET over a fresh TLS connection: (TLS version, cipher, the
    answer's head and body)."""
    with socket.create_connection(("127.0.0.1", svc.port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            s.sendall(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      b"Connection: close\r\n\r\n" % path.encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            return s.version(), s.cipher()[0], head.decode(), body


# --- handshakes -----------------------------------------------------------

@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2,
                                     ssl.TLSVersion.TLSv1_3],
                         ids=["tls1.2", "tls1.3"])
def test_handshake_and_request(tls, version):
    got, cipher, head, body = https_get(tls, client_ctx(tls, version))
    assert got == {ssl.TLSVersion.TLSv1_2: "TLSv1.2",
                   ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]
    if version == ssl.TLSVersion.TLSv1_2:
        # the certificate's own algorithm signed the key exchange
        assert {"rsa": "ECDHE-RSA-", "ecdsa": "ECDHE-ECDSA-"}[tls.kind] \
            in cipher, cipher
    assert head.startswith("HTTP/1.1 200 "), head
    assert body == b'{"status":"ok"}'


def test_many_handshakes_in_a_row(tls):
    """Every handshake signs through the keymgr: none is lost."""
    ctx = client_ctx(tls)
    for _ in range(30):
        assert https_get(tls, ctx)[2].startswith("HTTP/1.1 200 ")


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion:DeprecationWarning")
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1,
                                     ssl.TLSVersion.TLSv1_1],
                         ids=["tls1.0", "tls1.1"])
def test_old_protocols_refused(tls, version):
    """The client offers only TLS 1.0 or 1.1 (with every cipher allowed
    on its side): the server answers with a protocol_version alert."""
    ctx = client_ctx(tls)
    ctx.minimum_version = ctx.maximum_version = version
    ctx.set_ciphers("DEFAULT@SECLEVEL=0")
    with socket.create_connection(("127.0.0.1", tls.port), timeout=10) as raw:
        with pytest.raises(ssl.SSLError) as e:
            ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    assert e.value.reason == "TLSV1_ALERT_PROTOCOL_VERSION", e.value
    assert https_get(tls, client_ctx(tls))[2].startswith("HTTP/1.1 200 ")


def test_plain_http_to_the_tls_port_is_refused(tls):
    """No HTTP answer, the connection closes at once, and the worker
    goes on serving TLS."""
    with socket.create_connection(("127.0.0.1", tls.port), timeout=10) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        data = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
    assert b"HTTP/" not in data, data
    with pytest.raises(requests.ConnectionError):
        requests.get(tls.url.replace("https:", "http:") + "/healthz",
                     timeout=10)
    assert https_get(tls, client_ctx(tls))[2].startswith("HTTP/1.1 200 ")


# --- HTTPS answers --------------------------------------------------------

def test_https_answers_carry_hsts_and_security_headers(tls):
    token = tls.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    answers = [
        requests.get(tls.url + "/healthz", timeout=10),
        requests.get(tls.url + "/users/me", timeout=10,
                     headers={"Authorization": "Bearer " + token}),
        requests.get(tls.url + "/users/me", timeout=10),		# 401
        requests.get(tls.url + "/no/such/route", timeout=10),	# 404
    ]
    assert [r.status_code for r in answers] == [200, 200, 401, 404]
    assert answers[1].json()["email"] == ADMIN_EMAIL
    for r in answers:
        assert r.headers.get("Strict-Transport-Security") == HSTS, r.headers
        assert r.headers.get("X-Content-Type-Options") == "nosniff"
        assert r.headers.get("Referrer-Policy") == "no-referrer"
        assert r.headers.get("Cache-Control") == "no-store"


def test_kore_own_answer_over_tls_carries_hsts(tls):
    """A request Kore refuses itself (no Host) gets HSTS too over TLS."""
    ctx = client_ctx(tls)
    with socket.create_connection(("127.0.0.1", tls.port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\n\r\n")
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    head = data.partition(b"\r\n\r\n")[0].decode().lower()
    assert head.startswith("http/1.1 400 "), head
    assert "strict-transport-security: " + HSTS.lower() in head, head


def test_websocket_over_tls(tls):
    """wss://: the upgrade and a broadcast that comes back."""
    import asyncio
    import json

    import websockets

    token = tls.login(ADMIN_EMAIL, ADMIN_PASSWORD)

    async def go():
        deadline = time.monotonic() + 15
        while True:		# 503 until the instance's bus is connected
            try:
                ws = await websockets.connect(
                    tls.url.replace("https:", "wss:") + "/ws",
                    ssl=client_ctx(tls), open_timeout=10,
                    extra_headers={"Authorization": "Bearer " + token})
                break
            except websockets.InvalidStatusCode as e:
                if e.status_code != 503 or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
        try:
            await ws.send("over tls")
            while True:
                m = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if m.get("type") == "message":
                    return m
        finally:
            await ws.close()

    m = asyncio.run(asyncio.wait_for(go(), 60))
    assert (m["text"], m["from"]) == ("over tls", ADMIN_EMAIL), m


# --- the private key stays in the keymgr ----------------------------------

def key_secret(keyfile):
    """The private part of a key (RSA: the first prime; EC: the scalar)."""
    text = subprocess.run(["openssl", "pkey", "-in", str(keyfile), "-noout",
                           "-text"], capture_output=True, text=True,
                          check=True).stdout
    m = re.search(r"^(?:priv|prime1):\s*\n((?:[ \t]+[0-9a-f:]+\n)+)", text,
                  re.M)
    h = re.sub(r"[\s:]", "", m.group(1)).lstrip("0")
    return bytes.fromhex(h if len(h) % 2 == 0 else "0" + h)


def memory_holds(pid, needles):
    """The needles found in the readable memory of pid (mappings over
    256 MiB, the sanitizer's shadow and reservations, are skipped)."""
    found = set()
    with open("/proc/%d/maps" % pid) as f:
        maps = [line.split() for line in f]
    with open("/proc/%d/mem" % pid, "rb", 0) as mem:
        for m in maps:
            lo, hi = (int(x, 16) for x in m[0].split("-"))
            if "r" not in m[1] or hi - lo > 256 << 20 or \
                    (len(m) > 5 and m[5] in ("[vvar]", "[vsyscall]")):
                continue
            try:
                mem.seek(lo)
                data = mem.read(hi - lo)
            except (OSError, ValueError, OverflowError):
                continue
            found.update(n for n in needles if n in data)
    return found


def process_roles(svc):
    """{'keymgr': [pid], 'wrk': [pids]} from the children's titles."""
    roles = {"keymgr": [], "wrk": []}
    for pid in children_of(svc.proc.pid):
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            title = f.read().decode(errors="replace")
        for role in roles:
            if "[" + role in title:
                roles[role].append(pid)
    return roles


@pytest.mark.skipif(os.getuid() != 0, reason="reading /proc/PID/mem of the "
                    "service's processes needs root")
def test_private_key_only_in_the_keymgr(tls):
    """The secret's bytes (big-endian as in the file, little-endian as
    OpenSSL keeps its numbers) are in the keymgr's memory, which shows
    the search works, and in no worker's, even after handshakes; no
    worker maps or holds the key file open, and its environment has the
    key's path only."""
    for _ in range(3):
        https_get(tls, client_ctx(tls))
    secret = key_secret(tls.key)
    needles = {secret[:16], secret[::-1][:16]}
    roles = process_roles(tls)
    assert len(roles["keymgr"]) == 1 and len(roles["wrk"]) == 2, roles
    assert memory_holds(roles["keymgr"][0], needles), \
        "the search does not find the key in the keymgr"
    pem = tls.key.read_text()
    body = "".join(pem.splitlines()[1:-1])[:48].encode()
    for pid in roles["wrk"]:
        assert not memory_holds(pid, needles | {body}), \
            "worker %d holds the private key" % pid
        with open("/proc/%d/maps" % pid) as f:
            assert str(tls.key) not in f.read()
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except FileNotFoundError:
                continue
            assert target != str(tls.key), (pid, fd)
        with open("/proc/%d/environ" % pid, "rb") as f:
            assert b"PRIVATE KEY" not in f.read()


def served_cert(port):
    """The DER certificate the listener presents."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw) as s:
            return s.getpeercert(binary_form=True)


def der(cert):
    return ssl.PEM_cert_to_DER_cert(cert.read_text())


def test_sigusr1_reloads_certificate_and_key(certs, migrated, session_dir,
                                            tmp_path):
    """Renewed files at the same paths are served after SIGUSR1 (here an
    RSA pair replaced by an ECDSA one), with no restart: the workers
    stay the same processes."""
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    shutil.copy(certs["rsa"][0], cert)
    shutil.copy(certs["rsa"][1], key)
    svc = start_tls(session_dir, "tls-reload", migrated.new_database(True),
                    cert, key)
    try:
        assert served_cert(svc.port) == der(certs["rsa"][0])
        before = sorted(children_of(svc.proc.pid))
        shutil.copy(certs["ecdsa"][0], cert)
        shutil.copy(certs["ecdsa"][1], key)
        svc.proc.send_signal(signal.SIGUSR1)
        want = der(certs["ecdsa"][0])
        deadline = time.monotonic() + 10
        while True:	# every worker (two) has the new one
            try:
                got = [served_cert(svc.port) == want for _ in range(8)]
            except ssl.SSLError as e:
                # a handshake in the instant between the keymgr's new key
                # and a worker's new certificate fails
                got = [e]
            if all(g is True for g in got) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert all(g is True for g in got), got
        svc.cert = certs["ecdsa"][0]
        assert https_get(svc, client_ctx(svc))[2].startswith("HTTP/1.1 200 ")
        assert sorted(children_of(svc.proc.pid)) == before
    finally:
        svc.stop()
    bad = svc.bad_lines()
    assert not bad, "\n".join(bad)


def uids_of(pid):
    """The set of real, effective, saved and fs uids of pid."""
    with open("/proc/%d/status" % pid) as f:
        return set([line.split()[1:] for line in f
                    if line.startswith("Uid:")][0])


# --- configuration --------------------------------------------------------

def test_tls_settings_checked_at_start(certs, tmp_path):
    cert, key = certs["rsa"]
    encrypted = tmp_path / "encrypted.key"
    subprocess.run(["openssl", "pkey", "-in", str(key), "-aes128", "-passout",
                    "pass:secret", "-out", str(encrypted)], check=True)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a PEM file\n")
    cases = [
        ({"TLS_CERT_FILE": str(cert), "TLS_KEY_FILE": str(certs["ecdsa"][1])},
         "invalid TLS_KEY_FILE: it is not the key of TLS_CERT_FILE's "
         "certificate"),
        ({"TLS_CERT_FILE": str(cert), "TLS_KEY_FILE": str(encrypted)},
         "invalid TLS_KEY_FILE: no PEM private key without a passphrase "
         "in %s" % encrypted),
        ({"TLS_CERT_FILE": str(junk), "TLS_KEY_FILE": str(key)},
         "invalid TLS_CERT_FILE: no PEM certificate in %s" % junk),
        ({"TLS_CERT_FILE": str(cert)},
         "invalid TLS_KEY_FILE: required with TLS_CERT_FILE"),
        ({"TLS_KEY_FILE": str(key)},
         "invalid TLS_CERT_FILE: required with TLS_KEY_FILE"),
        ({"TLS_CERT_FILE": str(tmp_path / "none.crt"),
          "TLS_KEY_FILE": str(key)},
         "invalid TLS_CERT_FILE: %s: No such file or directory"
         % (tmp_path / "none.crt")),
        ({"TLS_CERT_FILE": str(cert), "TLS_KEY_FILE": str(tmp_path)},
         "invalid TLS_KEY_FILE: %s: not a file" % tmp_path),
    ]
    for env, want in cases:
        proc = run_bin(["serve"], base_env(**env))
        assert proc.returncode == 2, (env, proc.stdout, proc.stderr)
        assert proc.stderr.strip() == "userapi: " + want, proc.stderr


@pytest.mark.skipif(os.getuid() != 0, reason="privilege separation needs root")
def test_tls_with_privsep_keeps_the_key_from_the_workers(certs, migrated,
                                                         session_dir,
                                                         tmp_path):
    """RUNAS and CHROOT: the workers run as nobody in the jail; the keymgr
    keeps root outside it, so a key file readable by root alone works."""
    cert, key = certs["ecdsa"]
    assert key.stat().st_mode & 0o077 == 0 and key.stat().st_uid == 0
    jail = tmp_path / "jail"
    jail.mkdir()
    jail.chmod(0o755)
    svc = start_tls(session_dir, "tls-privsep", migrated.new_database(True),
                    cert, key,
                    RUNAS="nobody", CHROOT=str(jail))
    svc.cert = cert
    try:
        assert https_get(svc, client_ctx(svc))[2].startswith("HTTP/1.1 200 ")
        # a worker may answer before the other has dropped its privileges
        deadline = time.monotonic() + 10
        while True:
            roles = process_roles(svc)
            uids = {pid: uids_of(pid) for pid in roles["wrk"]}
            if (len(roles["wrk"]) == 2 and
                    all(u == {"65534"} for u in uids.values())) or \
                    time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert len(roles["keymgr"]) == 1 and len(roles["wrk"]) == 2, roles
        for pid in roles["wrk"]:
            assert uids[pid] == {"65534"}, (pid, uids[pid])	# nobody
            assert os.readlink("/proc/%d/root" % pid) == str(jail)
        assert uids_of(roles["keymgr"][0]) == {"0"}
        assert os.readlink("/proc/%d/root" % roles["keymgr"][0]) == "/"
        svc.proc.send_signal(signal.SIGTERM)
        assert svc.proc.wait(20) == 0
    finally:
        svc.stop()
    bad = svc.bad_lines()
    assert not bad, "\n".join(bad)
