# userapi: running it as its users do: the image recipe, the compose stack, the `make dev` loop, psql inspection.
"""
No Docker engine runs here, so the container side is tested piece by piece
with the real files:
- the Dockerfile's build stage is rehearsed: its build context (after
  .dockerignore) is copied into a directory named like its WORKDIR and its
  RUN steps run there; the binary it makes is the one the other tests run;
- its package installs are checked against packages.txt (the awk they run
  is run), and the image's libraries against what the binary links;
- docker-compose.yml is resolved by Debian's `docker-compose config`, and
  the userapi service's command runs with exactly that environment (only
  DATABASE_URL and the port point here), good and bad;
- the HEALTHCHECK command runs against the service.
The dev loop runs `make dev` in a copy of the repository, edits a source
and watches the answer change. Every process is stopped by its id.

This file is self-contained: it starts its own clusters and does not use
conftest.py's fixtures.
"""

import csv
import io
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
from pathlib import Path

import pytest
import requests
import yaml

REPO = Path(__file__).resolve().parents[2]
PGEMBED = REPO / "scripts/pgembed.sh"
PGBIN = Path("/usr/lib/postgresql/15/bin")
MIGRATIONS = sorted(p.stem for p in (REPO / "migrations").glob("*.sql"))
# Keys of the binary that must not leak from the caller's environment.
SERVICE_KEYS = (
    "DATABASE_URL", "BIND", "WORKERS", "LOG_FORMAT", "USERAPI_DEV",
    "JWT_SECRET", "JWT_SECRET_FILE", "ADMIN_EMAIL", "ADMIN_PASSWORD",
    "SMTP_URL", "MAIL_FROM", "ACCESS_TOKEN_EXPIRE_MINUTES", "PSQLRC",
    "USERAPI_PORT", "MAILPIT_UI_PORT", "POSTGRES_PASSWORD",
    "DEB_CFLAGS_APPEND", "KORE_BUILD_FLAVOR", "KORE_OBJDIR", "KODEV_OUTPUT")
FAKE_HASH = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA"


# --- helpers -----------------------------------------------------------------

def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_KEYS}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def run(argv, timeout=120, **kw):
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    return subprocess.run(argv, text=True, errors="replace", timeout=timeout,
                          **kw)


def repo_files():
    """The repository's files as a clone has them: tracked, plus new files
    not ignored (work in progress), minus deleted ones."""
    out = run(["git", "-C", str(REPO), "ls-files", "-z", "--cached",
               "--others", "--exclude-standard"], check=True).stdout
    files = sorted({f for f in out.split("\0") if f})
    return [f for f in files if os.path.lexists(REPO / f)]


def copy_files(files, dest):
    dest.mkdir(parents=True, exist_ok=True)
    for i in range(0, len(files), 200):
        run(["cp", "-a", "--parents", "-t", str(dest)] + files[i:i + 200],
            cwd=REPO, check=True)


def pgembed(cmd, pgdir):
    proc = run([str(PGEMBED), cmd, str(pgdir)],
               env=clean_env(PGEMBED_FAST="1"), timeout=120)
    assert proc.returncode == 0, "pgembed.sh %s: %s%s" % (
        cmd, proc.stdout, proc.stderr)
    return proc.stdout.strip()


def psql(dsn, sql, csv_out=False, extra=()):
    argv = [str(PGBIN / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
            "-d", dsn] + list(extra)
    argv += ["--csv"] if csv_out else ["-At", "-F", "\t"]
    argv += ["-f", "-"]
    proc = run(argv, input=sql, timeout=60)
    assert proc.returncode == 0, "psql failed: %s" % proc.stderr
    if csv_out:
        return list(csv.DictReader(io.StringIO(proc.stdout)))
    return [line.split("\t") for line in proc.stdout.splitlines()]


def with_dbname(dsn, name):
    new, n = re.subn(r"\bdbname=\S+", "dbname=" + name, dsn)
    assert n == 1, dsn
    return new


def wait_http(url, proc, log, timeout):
    """Poll url until it answers; fail when proc ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail("%s exited (%s) before serving:\n%s" % (
                proc.args, proc.returncode, read(log)))
        try:
            return requests.get(url, timeout=2)
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.2)
    pytest.fail("%s did not answer within %d s:\n%s" % (url, timeout,
                                                         read(log)))


def read(path):
    try:
        return Path(path).read_text(errors="replace")
    except FileNotFoundError:
        return ""


def stop_group(proc, sig=signal.SIGTERM, timeout=30):
    """Stop a process started with start_new_session by its group id
    (its own pid); SIGKILL after timeout. Returns its exit status."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    return proc.returncode


def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


# --- the Dockerfile, read as Docker reads it ---------------------------------

def dockerfile():
    """[(instruction, arguments)], continuation lines joined, comments out."""
    out, cur = [], None
    for raw in (REPO / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if line.startswith("#") or (cur is None and not line):
            continue
        cur = line if cur is None else cur + " " + line
        if cur.endswith("\\"):
            cur = cur[:-1].rstrip()
            continue
        word, _, rest = cur.partition(" ")
        out.append((word.upper(), rest.strip()))
        cur = None
    assert cur is None, "Dockerfile ends inside a continuation"
    return out


def stages():
    """Global ARGs and the stages: [{"from", "name", "steps"}]."""
    args, result = {}, []
    for word, rest in dockerfile():
        if word == "FROM":
            m = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
            assert m, rest
            image = re.sub(r"\$\{(\w+)\}|\$(\w+)",
                           lambda g: args[g.group(1) or g.group(2)],
                           m.group(1))
            result.append({"from": image, "name": m.group(2), "steps": []})
        elif not result:
            assert word == "ARG", "only ARG may come before FROM"
            k, _, v = rest.partition("=")
            args[k] = v
        else:
            result[-1]["steps"].append((word, rest))
    return result


def steps(stage, word):
    return [rest for w, rest in stage["steps"] if w == word]


def packages_by_role():
    roles = {}
    for line in (REPO / "packages.txt").read_text().splitlines():
        f = line.split()
        if not f or f[0].startswith("#"):
            continue
        assert len(f) >= 2, "package without a role: %r" % line
        for role in f[1:]:
            roles.setdefault(role, []).append(f[0])
    return roles


def dockerignore_allows(rel):
    """Docker's rule: the last pattern matching the path or one of its
    parent directories decides; `*` does not cross `/`."""
    allowed = True
    parts = rel.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    for line in (REPO / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        neg = line.startswith("!")
        pat = line[1:].strip() if neg else line
        rx = "".join("[^/]*" if c == "*" else "[^/]" if c == "?"
                     else re.escape(c) for c in pat.strip("/"))
        if any(re.fullmatch(rx, p) for p in prefixes):
            allowed = neg
    return allowed


# --- fixtures ------------------------------------------------------------------

@pytest.fixture(scope="module")
def tmp_root():
    d = Path(tempfile.mkdtemp(prefix="userapi-running-"))
    d.chmod(0o755)		# the server runs as postgres when we are root
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def pg(tmp_root):
    """A private cluster; yields a function making a fresh database."""
    pgdir = tmp_root / "pg"
    pgembed("start", pgdir)
    dsn = pgembed("dsn", pgdir)
    count = [0]

    def new_database(prefix):
        count[0] += 1
        name = "%s_%d" % (prefix, count[0])
        psql(dsn, "CREATE DATABASE %s;" % name)
        return with_dbname(dsn, name)

    yield new_database
    pgembed("destroy", pgdir)


@pytest.fixture(scope="module")
def image_binary(tmp_root):
    """Rehearse the build stage: its context, its WORKDIR's name, its RUN
    steps after the context is copied; returns the binary that the runtime
    stage copies (COPY --from=build)."""
    build, runtime = stages()
    workdir = steps(build, "WORKDIR")[-1]
    src = tmp_root / "image" / workdir.strip("/")
    copy_files([f for f in repo_files() if dockerignore_allows(f)], src)
    after_copy = False
    for word, rest in build["steps"]:
        if word == "COPY" and rest == ". .":
            after_copy = True
        elif word == "RUN" and after_copy:
            proc = run(["sh", "-c", rest], cwd=src, timeout=900,
                       env=clean_env())
            assert proc.returncode == 0, "RUN %s failed:\n%s%s" % (
                rest, proc.stdout[-3000:], proc.stderr[-3000:])
    assert after_copy, "the build stage never copies the context (COPY . .)"
    copies = [c for c in steps(runtime, "COPY") if c.startswith("--from=")]
    assert len(copies) == 1, copies
    m = re.fullmatch(r"--from=(\S+)\s+(\S+)\s+(\S+)", copies[0])
    assert m and m.group(1) == build["name"], copies[0]
    rel = os.path.relpath(m.group(2), workdir)
    binary = src / rel
    assert binary.is_file() and os.access(binary, os.X_OK), binary
    return binary


@pytest.fixture(scope="module")
def bin_dir(tmp_root, image_binary):
    """A directory for PATH holding `userapi`, as /usr/local/bin does."""
    d = tmp_root / "bin"
    d.mkdir(exist_ok=True)
    link = d / "userapi"
    if not link.exists():
        link.symlink_to(image_binary)
    return d


def env_example():
    values = {}
    for line in (REPO / ".env.example").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        k, sep, v = line.partition("=")
        assert sep, "not KEY=VALUE: %r" % line
        values[k.strip()] = v
    return values


def compose_config(d, env_lines):
    """`docker-compose config` of the repo's file with this .env."""
    d.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "docker-compose.yml", d / "docker-compose.yml")
    shutil.copy(REPO / "Dockerfile", d / "Dockerfile")
    env_file = d / ".env"
    if env_lines is None:
        env_file.unlink(missing_ok=True)
    else:
        env_file.write_text("".join("%s=%s\n" % kv for kv in env_lines))
    return run(["docker-compose", "--project-directory", str(d), "-f",
                str(d / "docker-compose.yml"), "config"], cwd=d,
               env=clean_env(HOME=str(d)), timeout=60)


@pytest.fixture(scope="module")
def compose(tmp_root):
    """The resolved compose file with .env = .env.example + a secret."""
    values = dict(env_example())
    values["JWT_SECRET"] = secrets.token_hex(32)
    proc = compose_config(tmp_root / "compose", sorted(values.items()))
    assert proc.returncode == 0, proc.stderr
    return yaml.safe_load(proc.stdout), values


class ComposeRun:
    """The userapi service's command, run here with its compose
    environment; DATABASE_URL and the listener point at this machine."""

    def __init__(self, cfg, bin_dir, dsn, workdir, drop=(), **override):
        svc = cfg["services"]["userapi"]
        self.port = free_port()
        env = clean_env(PATH="%s:%s" % (bin_dir, os.environ["PATH"]))
        env.update({k: "" if v is None else str(v)
                    for k, v in svc["environment"].items()})
        env["DATABASE_URL"] = dsn
        env["BIND"] = "127.0.0.1:%d" % self.port
        for k in drop:
            del env[k]
        env.update(override)
        self.env = env
        workdir.mkdir(parents=True, exist_ok=True)
        self.out = workdir / "stdout"
        self.err = workdir / "stderr"
        with open(self.out, "w") as o, open(self.err, "w") as e:
            self.proc = subprocess.Popen(svc["command"], env=env, cwd=workdir,
                                         stdout=o, stderr=e,
                                         stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        self.url = "http://127.0.0.1:%d" % self.port

    def stop(self, sig=signal.SIGTERM, timeout=30):
        return stop_group(self.proc, sig, timeout)


def healthcheck_cmd():
    (_, runtime) = stages()
    hc = steps(runtime, "HEALTHCHECK")
    assert len(hc) == 1, hc
    m = re.search(r"\bCMD\s+(.*)$", hc[0])
    assert m, hc[0]
    return hc[0], m.group(1)


# --- the image -----------------------------------------------------------------

def test_dockerfile_is_two_bookworm_stages_and_a_locked_down_runtime():
    build, runtime = stages()
    assert build["name"] == "build"
    for st in (build, runtime):
        assert re.fullmatch(r"debian:bookworm(-slim)?", st["from"]), st["from"]
    assert steps(runtime, "USER") and steps(runtime, "USER")[-1].split(":")[0] \
        not in ("0", "root"), "the runtime must not run as root"
    assert steps(runtime, "STOPSIGNAL") == ["SIGTERM"]
    assert steps(runtime, "EXPOSE") == ["8000"]
    assert "BIND=0.0.0.0:8000" in steps(runtime, "ENV")
    assert json.loads(steps(runtime, "CMD")[-1]) == ["userapi", "serve"]
    _, cmd = healthcheck_cmd()
    assert "/healthz" in cmd
    # The runtime gets packages.txt (to install from) and the binary only:
    # its configuration, SQL and assets are compiled in.
    copies = steps(runtime, "COPY")
    assert len(copies) == 2, copies
    assert copies[0].split()[0] == "packages.txt"
    assert copies[1].startswith("--from=build ")
    assert copies[1].split()[-1] == "/usr/local/bin/userapi"


def test_dockerfile_installs_each_stage_from_its_role_in_packages_txt():
    roles = packages_by_role()
    names = {p for ps in roles.values() for p in ps}
    build, runtime = stages()
    for stage, role in ((build, "build"), (runtime, "image")):
        installs = [r for r in steps(stage, "RUN") if "apt-get install" in r]
        assert len(installs) == 1, installs
        line = installs[0]
        # The only packages installed are those awk reads from the list.
        assert re.search(r"apt-get install(?: -\S+)* \$pkgs(?: |$)", line), line
        m = re.search(r"pkgs=\$\(awk -v role=(\w+) '([^']*)' (\S+)\)", line)
        assert m, line
        assert m.group(1) == role
        assert Path(m.group(3)).name == "packages.txt"
        proc = run(["awk", "-v", "role=" + role, m.group(2), "packages.txt"],
                   cwd=REPO, check=True)
        assert proc.stdout.split() == roles[role]
        # And no package is named in the Dockerfile itself.
        words = set(re.findall(r"[A-Za-z0-9][A-Za-z0-9.+-]*", line))
        assert not words & names, words & names
    assert not [p for p in roles["image"] if p.endswith("-dev")]


def test_build_role_has_the_tools_the_build_runs():
    """A slim image has only the build role: kodev, dpkg-buildflags,
    through which Kore's Makefile gets its CFLAGS (without it, they are
    silently dropped), and patch, which applies patches/kore."""
    build = set(packages_by_role()["build"])
    assert "dpkg-buildflags" in (Path("/usr/share/kore/Makefile")).read_text()
    for tool in ("kodev", "dpkg-buildflags", "patch"):
        path = shutil.which(tool)
        assert path, tool
        owner = run(["dpkg", "-S", os.path.realpath(path)], check=True)
        assert owner.stdout.split(":")[0] in build, (tool, owner.stdout)


def test_dockerignore_keeps_secrets_and_build_output_out():
    for path in (".env", "var/pgdata/PG_VERSION", ".build/prod/userapi",
                 "userapi", ".objs/http.o", ".git/config", "conf/main.conf",
                 "tests/e2e/conftest.py", "cert/key.pem", "kore.pid"):
        assert not dockerignore_allows(path), path
    for path in ("Makefile", "packages.txt", "scripts/deps.sh",
                 "conf/userapi.conf", "conf/build.conf", "src/main.c",
                 "src/api/health.c", "sql/users.sql", "assets/sql",
                 "migrations/0001_users.sql",
                 "patches/kore/0001-http-pipelining.patch"):
        assert dockerignore_allows(path), path


def test_build_stage_makes_the_prod_binary(image_binary):
    proc = run([str(image_binary), "--version"], check=True)
    assert re.match(r"userapi \S+ \(kore 4\.1", proc.stdout), proc.stdout
    # The prod flavor: no sanitizer runtime (sanitize), and not dev mode by
    # default (dev would generate a JWT secret and start).
    dynamic = run(["readelf", "-d", str(image_binary)], check=True).stdout
    assert "libasan" not in dynamic and "libubsan" not in dynamic
    proc = run([str(image_binary), "serve"], timeout=30, env=clean_env(
        DATABASE_URL="host=/nonexistent", BIND="127.0.0.1:%d" % free_port()))
    assert proc.returncode == 2, proc.stderr
    assert "JWT_SECRET" in proc.stderr


def test_image_packages_are_exactly_the_binarys_libraries(image_binary):
    image = set(packages_by_role()["image"])
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]",
                        run(["readelf", "-d", str(image_binary)],
                            check=True).stdout)
    assert needed
    cache = run(["ldconfig", "-p"], check=True).stdout
    owners = set()
    for lib in needed:
        m = re.search(r"^\s*%s \(libc6,x86-64\) => (\S+)$" % re.escape(lib),
                      cache, re.M)
        assert m, "%s is not in the linker cache" % lib
        real = os.path.realpath(m.group(1))
        proc = run(["dpkg", "-S", real])
        if proc.returncode != 0:	# merged /usr: dpkg knows /lib paths
            proc = run(["dpkg", "-S", real.replace("/usr/lib/", "/lib/", 1)])
        assert proc.returncode == 0, "no package owns %s" % real
        owners.add(proc.stdout.split(":")[0])
    # libc6 is in every Debian image; curl runs the HEALTHCHECK;
    # ca-certificates lets SMTP_URL and DATABASE_URL use TLS.
    assert owners - {"libc6"} <= image, owners - image
    assert image == (owners - {"libc6"}) | {"curl", "ca-certificates"}


# --- docker compose ---------------------------------------------------------------

def test_compose_stack_resolves(compose):
    cfg, values = compose
    svcs = cfg["services"]
    assert set(svcs) == {"postgres", "userapi", "mailpit"}

    pgs = svcs["postgres"]
    assert re.fullmatch(r"postgres:15(\.\d+)?(-bookworm)?", pgs["image"])
    vol = [v for v in pgs["volumes"]
           if v.split(":")[1] == "/var/lib/postgresql/data"]
    assert vol and vol[0].split(":")[0] in cfg["volumes"], pgs["volumes"]
    assert pgs["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert pgs["environment"]["POSTGRES_PASSWORD"] == values["POSTGRES_PASSWORD"]
    assert "ports" not in pgs, "the database is not published"

    api = svcs["userapi"]
    assert Path(api["build"]["context"]).name == "compose"	# the repo
    assert api["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert api["command"] == ["sh", "-c",
                              "userapi migrate --wait 60 && exec userapi serve"]
    assert api["environment"]["BIND"] == "0.0.0.0:8000"
    for k, v in values.items():		# every line of .env reaches it
        if k != "BIND":
            assert str(api["environment"].get(k) or "") == v, k
    assert [p.split(":")[-1] for p in api["ports"]] == ["8000/tcp"]
    assert api["ports"][0].startswith("127.0.0.1:8000:")
    assert api["stop_signal"] == "SIGTERM"

    mail = svcs["mailpit"]
    assert mail["image"].startswith("axllent/mailpit:")
    assert [p for p in mail["ports"] if p.endswith(":8025/tcp")]
    smtp = re.fullmatch(r"smtp://([^:/]+):(\d+)", values["SMTP_URL"])
    assert smtp and smtp.group(1) == "mailpit" and smtp.group(2) == "1025"
    db = re.fullmatch(r"postgresql://userapi:([^@]*)@postgres:5432/userapi",
                      values["DATABASE_URL"])
    assert db and db.group(1) == values["POSTGRES_PASSWORD"]


def test_compose_ports_follow_env(tmp_root):
    values = dict(env_example(), JWT_SECRET="x" * 40, USERAPI_PORT="9080",
                  MAILPIT_UI_PORT="9025")
    proc = compose_config(tmp_root / "compose-ports", sorted(values.items()))
    assert proc.returncode == 0, proc.stderr
    svcs = yaml.safe_load(proc.stdout)["services"]
    assert svcs["userapi"]["ports"] == ["127.0.0.1:9080:8000/tcp"]
    assert svcs["mailpit"]["ports"] == ["127.0.0.1:9025:8025/tcp"]


def test_compose_needs_the_env_file(tmp_root):
    proc = compose_config(tmp_root / "compose-noenv", None)
    assert proc.returncode != 0
    assert ".env" in proc.stderr


def test_env_example_commits_no_secret_and_only_known_keys():
    values = env_example()
    assert values["JWT_SECRET"] == ""
    # Keys the binary reads (src/*.c) or the compose file interpolates.
    known = set()
    for c in (REPO / "src").rglob("*.c"):
        known |= set(re.findall(
            r'(?:getenv|config_int|config_str)\("([A-Z0-9_]+)"', c.read_text()))
    compose_text = (REPO / "docker-compose.yml").read_text()
    known |= set(re.findall(r"\$\{([A-Z0-9_]+)", compose_text))
    assert not set(values) - known, set(values) - known
    for text in (compose_text, (REPO / "Dockerfile").read_text()):
        assert not re.search(r"JWT_SECRET\s*[:=]\s*\S", text)
    assert run(["git", "-C", str(REPO), "check-ignore", "-q", ".env"]
               ).returncode == 0, ".env must be git-ignored"


def test_compose_command_migrates_serves_and_stops(compose, bin_dir, pg,
                                                   tmp_root):
    cfg, _ = compose
    dsn = pg("compose")
    svc = ComposeRun(cfg, bin_dir, dsn, tmp_root / "run-ok")
    try:
        r = wait_http(svc.url + "/healthz", svc.proc, svc.err, 60)
        assert r.status_code == 200
        r = requests.get(svc.url + "/readyz", timeout=5)
        assert r.status_code == 200, r.text
        applied = [row[0] for row in psql(
            dsn, "SELECT version FROM schema_migrations ORDER BY 1;")]
        assert applied == MIGRATIONS
        for m in MIGRATIONS:
            assert "applied migration %s" % m in read(svc.out)
        # The image's HEALTHCHECK, with the container's BIND form.
        _, cmd = healthcheck_cmd()
        hc_env = clean_env(BIND="0.0.0.0:%d" % svc.port)
        assert run(["sh", "-c", cmd], env=hc_env, timeout=10).returncode == 0
        # docker compose stop: SIGTERM to PID 1, which is userapi (exec).
        assert svc.stop(signal.SIGTERM, timeout=30) == 0, read(svc.err)
        assert run(["sh", "-c", cmd], env=hc_env, timeout=10).returncode != 0
    finally:
        svc.stop(signal.SIGKILL)


BAD_SECRETS = [
    pytest.param({"drop": ("JWT_SECRET",)}, id="missing"),
    pytest.param({"JWT_SECRET": ""}, id="empty"),
    pytest.param({"JWT_SECRET": "s" * 31}, id="too-short"),
]


@pytest.mark.parametrize("bad", BAD_SECRETS)
def test_compose_without_a_good_jwt_secret_stops_with_one_line(
        compose, bin_dir, pg, tmp_root, bad, request):
    cfg, _ = compose
    bad = dict(bad)
    drop = bad.pop("drop", ())
    svc = ComposeRun(cfg, bin_dir, pg("badsecret"),
                     tmp_root / ("run-bad-" + request.node.callspec.id),
                     drop=drop, **bad)
    try:
        rc = svc.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("the service started without a usable JWT secret")
    finally:
        svc.stop(signal.SIGKILL)
    err = [line for line in read(svc.err).splitlines() if line.strip()]
    assert rc == 2, (rc, err)
    assert len(err) == 1, err
    assert "JWT_SECRET" in err[0]
    assert err[0].startswith("userapi: ")
    assert not port_open(svc.port)


# --- psql inspection --------------------------------------------------------------

def helpers_defined():
    return re.findall(r"^\\set (\w+) '", (REPO / "sql/inspect.sql").read_text(),
                      re.M)


def run_helper(dsn, name):
    return psql(dsn, ":%s\n" % name, csv_out=True,
                extra=["-f", str(REPO / "sql/inspect.sql")])


@pytest.fixture(scope="module")
def seeded(pg, image_binary):
    """A database migrated by the binary, with users and login counts."""
    dsn = pg("inspect")
    proc = run([str(image_binary), "migrate"],
               env=clean_env(DATABASE_URL=dsn), timeout=60)
    assert proc.returncode == 0, proc.stderr
    fillers = ",\n".join(
        "('Filler %d', 'filler%d@example.com', NULL, NULL, false, true, "
        "now() - interval '10 days' - interval '%d minutes')" % (i, i, i)
        for i in range(20))
    psql(dsn, """
INSERT INTO users (name, email, age, password_hash, is_admin, is_active,
    created_at) VALUES
 ('Old Admin', 'old.admin@example.com', 50, '%(h)s', true, true,
  now() - interval '3 days'),
 ('Middle', 'middle@example.com', NULL, NULL, false, true,
  now() - interval '2 days'),
 ('Inactive Admin', 'inactive.admin@example.com', 30, '%(h)s', true, false,
  now() - interval '1 day'),
 ('Newest', 'newest@example.com', 20, '%(h)s', false, true, now()),
 %(f)s;
INSERT INTO login_attempts (email_key, attempts, window_start) VALUES
 ('locked@example.com', 5, clock_timestamp() - interval '1 minute'),
 ('newest@example.com', 2, clock_timestamp() - interval '2 minutes'),
 ('expired@example.com', 9, clock_timestamp() - interval '20 minutes');
""" % {"h": FAKE_HASH, "f": fillers})
    return dsn


def test_inspect_defines_the_operators_helpers():
    defined = helpers_defined()
    assert {"inspect", "users", "admins", "lockouts", "migrations"} <= \
        set(defined)
    assert len(defined) == len(set(defined))


def test_inspect_helpers_all_run_and_show_no_hash(seeded):
    for name in helpers_defined():
        proc = run([str(PGBIN / "psql"), "-X", "-v", "ON_ERROR_STOP=1",
                    "-d", seeded, "-f", str(REPO / "sql/inspect.sql"),
                    "-f", "-"], input=":%s\n" % name, timeout=60)
        assert proc.returncode == 0, (name, proc.stderr)
        assert "$argon2" not in proc.stdout, name
        assert "password_hash" not in proc.stdout, name


def test_inspect_lists_every_helper(seeded):
    rows = run_helper(seeded, "inspect")
    assert [r["helper"] for r in rows] == \
        [h for h in helpers_defined() if h != "inspect"]
    assert all(r["shows"] for r in rows)


def test_inspect_users(seeded):
    rows = run_helper(seeded, "users")
    assert list(rows[0]) == ["id", "name", "email", "age", "is_active",
                             "is_admin", "has_password", "created_at",
                             "updated_at"]
    assert len(rows) == 20
    assert [r["email"] for r in rows[:4]] == [
        "newest@example.com", "inactive.admin@example.com",
        "middle@example.com", "old.admin@example.com"]
    assert [r["email"] for r in rows[4:]] == [
        "filler%d@example.com" % i for i in range(16)]
    assert [r["has_password"] for r in rows[:4]] == ["t", "t", "f", "t"]
    assert rows[1]["is_active"] == "f" and rows[1]["is_admin"] == "t"
    assert rows[2]["age"] == ""


def test_inspect_admins(seeded):
    rows = run_helper(seeded, "admins")
    assert [(r["email"], r["is_active"]) for r in rows] == [
        ("old.admin@example.com", "t"), ("inactive.admin@example.com", "f")]


def test_inspect_lockouts(seeded):
    rows = run_helper(seeded, "lockouts")
    by = {r["email"]: r for r in rows}
    assert [r["email"] for r in rows] == ["locked@example.com",
                                          "newest@example.com"]
    locked, newest = by["locked@example.com"], by["newest@example.com"]
    assert (locked["attempts"], locked["locked"], locked["user_id"]) == \
        ("5", "t", "")
    assert locked["locked_until"] != ""
    assert (newest["attempts"], newest["locked"], newest["locked_until"]) == \
        ("2", "f", "")
    uid = psql(seeded, "SELECT id FROM users WHERE email = "
               "'newest@example.com';")[0][0]
    assert newest["user_id"] == uid
    until = psql(seeded, "SELECT '%s'::timestamptz - window_start FROM "
                 "login_attempts WHERE email_key = 'locked@example.com';"
                 % locked["locked_until"])[0][0]
    assert until == "00:15:00"


def test_inspect_lockout_numbers_are_the_services():
    store = next((p for p in (REPO / "src").rglob("*.c")
                  if "LOGIN_WINDOW" in p.read_text()), None)
    assert store, "no LOGIN_WINDOW in src/"
    text = store.read_text()
    attempts = re.search(r'#define\s+LOGIN_ATTEMPTS\s+"(\d+)"', text).group(1)
    window = re.search(r'#define\s+LOGIN_WINDOW\s+"([^"]+)"', text).group(1)
    line = [l for l in (REPO / "sql/inspect.sql").read_text().splitlines()
            if l.startswith("\\set lockouts ")][0]
    assert "attempts >= %s " % attempts in line
    assert line.count("interval ''%s''" % window) == 2


def test_inspect_migrations(seeded):
    rows = run_helper(seeded, "migrations")
    assert [r["version"] for r in rows] == MIGRATIONS
    assert all(re.fullmatch(r"[0-9a-f]{64}", r["checksum"]) for r in rows)


def test_make_psql_uses_database_url_and_keeps_the_users_psqlrc(seeded,
                                                                 tmp_root):
    home = tmp_root / "home"
    home.mkdir(exist_ok=True)
    (home / ".psqlrc").write_text("\\set from_home 'SELECT 41 + 1 AS home;'\n")
    proc = run(["make", "-s", "psql"], cwd=REPO, input=":from_home\n:admins\n",
               env=clean_env(DATABASE_URL=seeded, HOME=str(home)), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^\s+42$", proc.stdout, re.M), proc.stdout
    assert "old.admin@example.com" in proc.stdout
    assert "inactive.admin@example.com" in proc.stdout
    assert "middle@example.com" not in proc.stdout


# --- the dev loop -----------------------------------------------------------------

HEALTHZ = re.compile(r'(api_healthz\(struct http_request \*req\)\s*\{.*?)"ok"',
                     re.S)


def children(pid):
    try:
        return [int(c) for c in
                Path("/proc/%d/task/%d/children" % (pid, pid)).read_text()
                .split()]
    except FileNotFoundError:
        return []


def wait_body(url, want, proc, log, timeout):
    """Seconds until url answers JSON want; fails after timeout."""
    start = time.monotonic()
    last = None
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            pytest.fail("make dev exited (%s):\n%s" % (proc.returncode,
                                                       read(log)))
        try:
            last = requests.get(url, timeout=2).json()
            if last == want:
                return time.monotonic() - start
        except (requests.ConnectionError, requests.Timeout, ValueError):
            pass
        time.sleep(0.1)
    pytest.fail("%s still answers %r, not %r, after %d s:\n%s" % (
        url, last, want, timeout, read(log)[-4000:]))


def wait_log(log, offset, pattern, proc, timeout):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        text = read(log)[offset:]
        if re.search(pattern, text):
            return text
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    pytest.fail("no %r in the dev log after %d s:\n%s" % (
        pattern, timeout, read(log)[offset:][-4000:]))


@pytest.fixture(scope="module")
def dev_copy(tmp_root):
    """The repository copied into a directory not named userapi, prepared
    for kodev (make kodev-setup), with its own embedded cluster (var/)."""
    d = tmp_root / "uadev"
    copy_files(repo_files(), d)
    proc = run(["make", "-s", "kodev-setup"], cwd=d, env=clean_env(),
               timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (d / "conf" / "uadev.conf").is_symlink()
    yield d
    if (d / "var").exists():
        pgembed("destroy", d / "var")


def test_make_dev_rebuilds_on_save_and_keeps_the_last_good_build(dev_copy):
    port = free_port()
    url = "http://127.0.0.1:%d/healthz" % port
    log = dev_copy / "dev.log"
    env = clean_env(BIND="127.0.0.1:%d" % port, PGEMBED_FAST="1")
    with open(log, "w") as out:
        proc = subprocess.Popen(["make", "dev"], cwd=dev_copy, env=env,
                                stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL,
                                start_new_session=True)
    health = dev_copy / "src/api/health.c"
    header = dev_copy / "src/version.h"
    try:
        # First start: Kore's objects, the app, initdb.
        r = wait_http(url, proc, log, 300)
        assert r.json() == {"status": "ok"}
        assert "dev mode" in read(log)		# the dev flavor's default

        # A change to a source is served within seconds.
        text, n = HEALTHZ.subn(r'\1"ok-dev1"', health.read_text(), count=1)
        assert n == 1, "api_healthz does not answer \"ok\" any more"
        health.write_text(text)
        took = wait_body(url, {"status": "ok-dev1"}, proc, log, 60)
        assert took < 15, "the rebuild took %.1f s" % took

        # A build error is shown; the last good build keeps serving.
        offset = len(read(log))
        health.write_text(text + "\nthis is not C;\n")
        failed = wait_log(log, offset, r"build failed", proc, 60)
        assert re.search(r"health\.c:\d+:\d+: error", failed), failed
        for _ in range(10):
            assert requests.get(url, timeout=2).json() == {"status": "ok-dev1"}
            time.sleep(0.1)

        # Fixed, in two quick saves (one build): the loop goes on.
        health.write_text(text.replace('"ok-dev1"', '"ok-dev2"'))
        health.write_text(text.replace('"ok-dev1"', '"ok-dev3"'))
        wait_body(url, {"status": "ok-dev3"}, proc, log, 60)

        # A header change rebuilds what includes it (kodev alone would not).
        offset = len(read(log))
        h = header.read_text()
        h2, n = re.subn(r'(#define\s+USERAPI_VERSION\s+)"[^"]*"',
                        r'\1"9.9.9-devloop"', h)
        assert n == 1
        header.write_text(h2)
        wait_log(log, offset, r"userapi 9\.9\.9-devloop listening", proc, 60)
        assert requests.get(url, timeout=2).json() == {"status": "ok-dev3"}

        # SIGTERM to the loop (as Ctrl-C would) stops the service with it.
        loop = children(proc.pid)
        assert len(loop) == 1, loop
        os.kill(loop[0], signal.SIGTERM)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 15
        while group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not group_alive(proc.pid), "make dev left processes behind"
        assert not port_open(port)
    finally:
        stop_group(proc, signal.SIGKILL, 10)


def test_kodev_run_in_the_repository(dev_copy):
    """After make dev (make kodev-setup), `kodev run` works in the checkout,
    whatever its name: dev flavor, dev mode, the embedded cluster."""
    port = free_port()
    log = dev_copy / "kodev-run.log"
    pgembed("start", dev_copy / "var")
    version = re.search(r'USERAPI_VERSION\s+"([^"]+)"',
                        (dev_copy / "src/version.h").read_text()).group(1)
    with open(log, "w") as out:
        proc = subprocess.Popen(["kodev", "run"], cwd=dev_copy,
                                env=clean_env(BIND="127.0.0.1:%d" % port),
                                stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL,
                                start_new_session=True)
    try:
        r = wait_http("http://127.0.0.1:%d/readyz" % port, proc, log, 300)
        assert r.status_code == 200, r.text
        text = read(log)
        assert "dev mode" in text
        # This checkout's build, on the port given.
        assert "userapi %s listening on 127.0.0.1:%d" % (version, port) in text
        # The embedded cluster of this checkout.
        user = requests.post("http://127.0.0.1:%d/users" % port, timeout=5,
                             json={"name": "Dev", "email": "dev@example.com"})
        assert user.status_code == 201, user.text
    finally:
        stop_group(proc, signal.SIGTERM, 30)
    assert (dev_copy / dev_copy.name).is_file()		# kodev's binary

    # make psql there, without DATABASE_URL: the same database.
    proc = run(["make", "-s", "psql"], cwd=dev_copy, input=":users\n",
               env=clean_env(HOME=str(dev_copy)), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "dev@example.com" in proc.stdout
