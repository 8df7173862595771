# userapi: end-to-end tests of the compiled-in web assets: pages, /static/ files, /openapi.json, caching, CSP, 404s.

import hashlib
import http.client
import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

import openapi_check
from conftest import JSON_CT

REPO = Path(__file__).resolve().parents[2]
ASSETS = REPO / "assets"

PAGES = {"/": "userapi - demo", "/docs": "userapi - Swagger UI",
         "/redoc": "userapi - ReDoc", "/conventions": "userapi - conventions"}
HTML_CT = "text/html; charset=utf-8"
NO_CACHE = "no-cache"
FOREVER = "public, max-age=31536000, immutable"
PAGE_ETAG = re.compile(r'^"[0-9a-f]{16}"$')

# The static files: where the bytes come from, and their content type.
STATIC = {
    "api-client.js": ("assets/api-client.js", "text/javascript; charset=utf-8"),
    "demo.js": ("assets/demo.js", "text/javascript; charset=utf-8"),
    "demo-mail.js": ("assets/demo-mail.js", "text/javascript; charset=utf-8"),
    "demo-chat.js": ("assets/demo-chat.js", "text/javascript; charset=utf-8"),
    "docs-init.js": ("assets/docs-init.js", "text/javascript; charset=utf-8"),
    "redoc-init.js": ("assets/redoc-init.js", "text/javascript; charset=utf-8"),
    "site.css": ("assets/site.css", "text/css; charset=utf-8"),
    "favicon.svg": ("assets/favicon.svg", "image/svg+xml"),
    "swagger-ui-bundle.js": ("node_modules/swagger-ui-dist/swagger-ui-bundle.js",
                             "text/javascript; charset=utf-8"),
    "swagger-ui-bundle.js.LICENSE.txt": (
        "node_modules/swagger-ui-dist/swagger-ui-bundle.js.LICENSE.txt",
        "text/plain; charset=utf-8"),
    "swagger-ui.css": ("node_modules/swagger-ui-dist/swagger-ui.css",
                       "text/css; charset=utf-8"),
    "redoc.standalone.js": ("node_modules/redoc/bundles/redoc.standalone.js",
                            "text/javascript; charset=utf-8"),
    "redoc.standalone.js.LICENSE.txt": (
        "node_modules/redoc/bundles/redoc.standalone.js.LICENSE.txt",
        "text/plain; charset=utf-8"),
}

# The policy every page has; Swagger UI needs data: images, ReDoc those,
# inline styles and blob: workers (src/api/assets.c says why).
CSP_COMMON = {
    "default-src": ["'none'"], "script-src": ["'self'"],
    "connect-src": ["'self'"], "frame-ancestors": ["'none'"],
    "base-uri": ["'none'"], "form-action": ["'self'"],
}
CSP = {
    "/": dict(CSP_COMMON, **{"style-src": ["'self'"], "img-src": ["'self'"]}),
    "/docs": dict(CSP_COMMON, **{"style-src": ["'self'"],
                                 "img-src": ["'self'", "data:"]}),
    "/redoc": dict(CSP_COMMON, **{"style-src": ["'self'", "'unsafe-inline'"],
                                  "img-src": ["'self'", "data:"],
                                  "worker-src": ["blob:"]}),
    "/conventions": dict(CSP_COMMON, **{"style-src": ["'self'"],
                                        "img-src": ["'self'"]}),
}


def source_bytes(name):
    """The bytes /static/<name> must serve (node_modules or assets/vendor)."""
    rel = STATIC[name][0]
    path = REPO / rel
    if not path.exists() and rel.startswith("node_modules/"):
        path = ASSETS / "vendor" / Path(rel).name
    return path.read_bytes()


def sha(data):
    return hashlib.sha256(data).hexdigest()


def csp_of(header):
    out = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            assert words[0] not in out, "directive twice: %s" % header
            out[words[0]] = words[1:]
    return out


def raw_get(base_url, path, method="GET", headers=None):
    """A request with the path exactly as given (no client normalisation)."""
    u = urlsplit(base_url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        c.putrequest(method, path, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            c.putheader(k, v)
        c.endheaders()
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def static_links(html):
    """The /static/ links of a page: [(name, version)]."""
    return re.findall(r'(?:src|href)="/static/([^"?]+)\?v=([^"]*)"', html)


# --- pages -------------------------------------------------------------------

@pytest.mark.parametrize("path", sorted(PAGES))
def test_page(base_url, path):
    r = requests.get(base_url + path, timeout=10)
    assert r.status_code == 200
    openapi_check.check_response(r)
    assert r.headers["Content-Type"] == HTML_CT
    assert "<title>%s</title>" % PAGES[path] in r.text
    assert r.headers["Cache-Control"] == NO_CACHE
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert PAGE_ETAG.match(r.headers["ETag"]), r.headers["ETag"]
    assert r.headers["X-Request-ID"]
    assert csp_of(r.headers["Content-Security-Policy"]) == CSP[path]


@pytest.mark.parametrize("path", sorted(PAGES))
def test_page_has_no_inline_code_and_nothing_from_outside(base_url, path):
    html = requests.get(base_url + path, timeout=10).text
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts or path == "/conventions", html	# text only
    for attrs, body in scripts:
        assert re.search(r'src="/static/[^"]+"', attrs), attrs
        assert body.strip() == ""
    assert not re.search(r"<style|\sstyle=|\son[a-z]+=", html, re.I)
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    # Every link to a file of ours carries its version.
    assert len(static_links(html)) == html.count('"/static/')


@pytest.mark.parametrize("path", sorted(PAGES))
def test_page_links_carry_the_files_versions(base_url, path):
    html = requests.get(base_url + path, timeout=10).text
    links = static_links(html)
    assert links
    for name, version in links:
        assert version == sha(source_bytes(name))[:16], name
        r = requests.get("%s/static/%s?v=%s" % (base_url, name, version),
                         timeout=30)
        assert r.status_code == 200, name
        assert r.headers["Cache-Control"] == FOREVER
        openapi_check.check_response(r)


def test_demo_page_links_its_scripts(base_url):
    html = requests.get(base_url + "/", timeout=10).text
    assert [n for n, _ in static_links(html)] == [
        "favicon.svg", "site.css", "api-client.js", "demo.js", "demo-mail.js",
        "demo-chat.js"]
    for target in ('href="/docs"', 'href="/redoc"', 'href="/openapi.json"',
                   'href="/conventions"'):
        assert target in html


@pytest.mark.parametrize("path", sorted(PAGES))
def test_every_page_links_both_documents(base_url, path):
    html = requests.get(base_url + path, timeout=10).text
    for target in ('href="/openapi.json"', 'href="/asyncapi.json"',
                   'href="/conventions"', 'href="/docs"'):
        assert target in html, (path, target)


def test_documents_and_pages_reveal_no_configuration(main_service, dsn):
    """The secret, the database's conninfo and the admin's password are
    in the service's environment; no document or page carries any of
    them, and each document has an ETag."""
    secrets = [main_service.env["JWT_SECRET"], dsn,
               main_service.env["ADMIN_PASSWORD"]]
    secrets += [part.split("=", 1)[1] for part in dsn.split()
                if part.startswith(("host=", "dbname=")) and
                len(part.split("=", 1)[1]) > 8]
    for path in ("/openapi.json", "/asyncapi.json", "/docs", "/redoc",
                 "/conventions", "/"):
        r = requests.get(main_service.url + path, timeout=10)
        assert r.status_code == 200, path
        assert PAGE_ETAG.match(r.headers["ETag"]) or re.match(
            r'^"[0-9a-f]{16,64}"$', r.headers["ETag"]), path
        for s in secrets:
            assert s not in r.text, (path, s[:12])


def test_the_documents_introduction_links_the_full_conventions(base_url):
    """The document's description stays short; its link resolves to the
    page that holds the full text (every convention named there)."""
    doc = requests.get(base_url + "/openapi.json", timeout=10).json()
    intro = doc["info"]["description"]
    assert "](/conventions)" in intro and len(intro) < 1400, len(intro)
    assert "](/asyncapi.json)" in intro
    r = requests.get(base_url + "/conventions", timeout=10)
    assert r.status_code == 200
    openapi_check.check_response(r)
    for topic in ("Strict types", "Validation errors", "ETags", "Tokens",
                  "Lockout", "Rate limits", "Back-pressure",
                  "Protocol errors", "X-Request-ID"):
        assert topic in r.text, topic


# --- /static/ ----------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(STATIC))
def test_static_file(base_url, name):
    data = source_bytes(name)
    r = requests.get(base_url + "/static/" + name, timeout=30)
    assert r.status_code == 200
    openapi_check.check_response(r)
    assert r.content == data
    assert r.headers["Content-Type"] == STATIC[name][1]
    assert r.headers["ETag"] == '"%s"' % sha(data)
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    # Without the version, or with another: revalidate; no CSP on files.
    assert r.headers["Cache-Control"] == NO_CACHE
    assert "Content-Security-Policy" not in r.headers
    for v in ("0000000000000000", sha(data)[:15], sha(data), "",
              sha(data)[:16].upper()):
        r = requests.get(base_url + "/static/" + name, params={"v": v},
                         timeout=30)
        assert r.status_code == 200
        assert r.headers["Cache-Control"] == NO_CACHE, v
    r = requests.get(base_url + "/static/" + name,
                     params={"v": sha(data)[:16]}, timeout=30)
    assert r.headers["Cache-Control"] == FOREVER


def test_vendor_files_are_the_pinned_packages():
    """package.json pins exact versions, and the lockfile has those."""
    pkg = json.loads((REPO / "package.json").read_text())
    lock = json.loads((REPO / "package-lock.json").read_text())
    want = dict(pkg["dependencies"], **pkg["devDependencies"])
    # What the pages serve; the rest only builds and tests.
    assert set(pkg["dependencies"]) == {"swagger-ui-dist", "redoc"}
    for name, version in want.items():
        assert re.match(r"^\d+\.\d+\.\d+$", version), (name, version)
        entry = lock["packages"]["node_modules/" + name]
        assert entry["version"] == version, name
        assert entry["integrity"].startswith("sha512-"), name
        assert "resolved" not in entry or "localhost" not in entry["resolved"]
    for name in pkg["devDependencies"]:
        assert lock["packages"]["node_modules/" + name].get("dev") is True


# --- /openapi.json -----------------------------------------------------------

def test_openapi_json_is_the_repositorys(base_url):
    data = (ASSETS / "openapi.json").read_bytes()
    r = requests.get(base_url + "/openapi.json", timeout=10)
    assert r.status_code == 200
    openapi_check.check_response(r)
    assert r.headers["Content-Type"] == JSON_CT
    assert r.content == data
    assert r.headers["ETag"] == '"%s"' % sha(data)
    assert r.headers["Cache-Control"] == NO_CACHE
    assert "Content-Security-Policy" not in r.headers
    assert r.json()["openapi"] == "3.1.0"


# --- HEAD, conditional requests ----------------------------------------------

@pytest.mark.parametrize("path", sorted(PAGES) + [
    "/openapi.json", "/static/demo.js", "/static/swagger-ui.css"])
def test_head_is_get_without_body(base_url, path):
    g = requests.get(base_url + path, timeout=30)
    h = requests.head(base_url + path, timeout=30)
    assert h.status_code == 200
    openapi_check.check_response(h)
    assert h.content == b""
    assert int(h.headers["Content-Length"]) == len(g.content)
    for k in ("ETag", "Cache-Control", "Content-Type",
              "X-Content-Type-Options", "Content-Security-Policy"):
        assert h.headers.get(k) == g.headers.get(k), k


@pytest.mark.parametrize("path", sorted(PAGES) + [
    "/openapi.json", "/static/redoc.standalone.js"])
@pytest.mark.parametrize("form", ["exact", "weak", "list", "star"])
def test_if_none_match_is_304(base_url, path, form):
    etag = requests.head(base_url + path, timeout=10).headers["ETag"]
    value = {"exact": etag, "weak": "W/" + etag,
             "list": '"0123456789abcdef" , %s,W/"x"' % etag,
             "star": "*"}[form]
    for method in ("GET", "HEAD"):
        r = requests.request(method, base_url + path,
                             headers={"If-None-Match": value}, timeout=10)
        assert r.status_code == 304, (method, value)
        openapi_check.check_response(r)
        assert r.content == b""
        assert r.headers["ETag"] == etag
        assert "Cache-Control" in r.headers


@pytest.mark.parametrize("value", [
    '"0123456789abcdef"', "W/\"nope\"", '""', "**", "W/",
    '"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"'])
def test_if_none_match_other_tag_is_200(base_url, value):
    r = requests.get(base_url + "/docs", headers={"If-None-Match": value},
                     timeout=10)
    assert r.status_code == 200
    assert r.content


def test_if_none_match_with_a_truncated_tag_is_200(base_url):
    etag = requests.head(base_url + "/openapi.json", timeout=10).headers["ETag"]
    for value in (etag[:-2] + '"', etag[1:-1], etag + "x"):
        r = requests.get(base_url + "/openapi.json",
                         headers={"If-None-Match": value}, timeout=10)
        assert r.status_code == 200, value


# --- what is not there ---------------------------------------------------------

NOT_THERE = [
    "/static/", "/static/nope.js", "/static/docs.html", "/static/demo.html",
    "/static/openapi.json", "/static/users.sql", "/static/0001_users.sql",
    "/static/vendor/swagger-ui.css", "/static/swagger-ui.css.map",
    "/static/swagger-ui-bundle.js.map", "/static/swagger-ui.css/",
    "/static/SWAGGER-UI.CSS", "/static/%73wagger-ui.css",
    "/static/swagger-ui.css%00", "/static/demo.js;x", "/static/x/demo.js",
    # Traversal, plain and encoded: nothing is read from a file system.
    "/static/../conf/userapi.conf", "/static/..%2f..%2fconf%2fuserapi.conf",
    "/static/..%2F..%2Fsql%2Fusers.sql", "/static/%2e%2e/%2e%2e/etc/passwd",
    "/static/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/static/%252e%252e%252f",
    "/static/..\\..\\conf\\userapi.conf", "/static//etc/passwd",
    "/static/./demo.js", "/static/x/../demo.js", "/../etc/passwd",
    "/%2e%2e/etc/passwd", "//static/demo.js",
    # The pages are exact paths.
    "/docs/", "/redoc/", "/openapi.json/", "/index.html", "/demo",
    "/docs.html", "/openapi.yaml",
]


@pytest.mark.parametrize("path", NOT_THERE)
def test_unknown_asset_is_json_404(base_url, path):
    for method in ("GET", "HEAD"):
        status, headers, body = raw_get(base_url, path, method)
        assert status == 404, (method, path)
        assert headers["content-type"] == JSON_CT
        if method == "GET":
            assert json.loads(body) == {"detail": "Not Found"}
            openapi_check.check(method, path, status, json.loads(body),
                                headers)
        else:
            assert body == b""


@pytest.mark.parametrize("path", ["/", "/docs", "/redoc", "/conventions",
                                  "/openapi.json", "/static/demo.js",
                                  "/static/nope.js"])
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE",
                                    "OPTIONS"])
def test_other_methods_are_405(base_url, path, method):
    r = requests.request(method, base_url + path, data=b"", timeout=10)
    assert r.status_code == 405
    assert r.headers["Allow"] == "GET, HEAD"
    assert r.json() == {"detail": "Method Not Allowed"}
    openapi_check.check_response(r)


def test_assets_are_logged_with_the_request_id(base_url, main_log):
    rid = "assets-e2e-1"
    r = requests.get(base_url + "/static/site.css",
                     headers={"X-Request-ID": rid}, timeout=10)
    assert r.headers["X-Request-ID"] == rid
    line = main_log.wait_for("rid=" + rid)
    assert "method=GET path=/static/site.css status=200" in line
