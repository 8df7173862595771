# userapi: the route table of src/api/routes.c, read by the tests: rows and matching.
"""
Each row of `api_routes[]` in src/api/routes.c is
`{ "path", R_GET | R_POST, handler, AUTH_x, RATE_x, flags, "query names" }`
(or NULL for no query parameters); this module
reads them in order and matches paths as the dispatcher does (the first
row whose path matches wins; {name} is one segment, a final * any rest).
A row with GET has HEAD too, as in the dispatcher, unless its flags say
ROUTE_NO_HEAD.
"""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ROUTES_C = REPO / "src" / "api" / "routes.c"

METHOD_BITS = {"R_GET": "GET", "R_HEAD": "HEAD", "R_POST": "POST",
               "R_PUT": "PUT", "R_PATCH": "PATCH", "R_DELETE": "DELETE",
               "R_OPTIONS": "OPTIONS"}
ALLOW_ORDER = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

ROW = re.compile(r'^\s*\{\s*"([^"]+)",\s*([A-Z_| ]+?),\s*(\w+),\s*(AUTH_\w+),'
                 r'\s*(RATE_\w+),\s*([\w| ]+?),\s*(NULL|"[a-z_ ]+")\s*\},')


class Route:
    def __init__(self, path, methods, handler, auth, rate, flags, query):
        self.path = path
        self.methods = methods
        self.handler = handler
        self.auth = auth
        self.rate = rate
        self.flags = flags
        self.query = query		# the query parameters it reads

    def __repr__(self):
        return "Route(%r, %r, %s)" % (self.path, self.methods, self.handler)


def routes():
    """The rows of the table, in order."""
    out = []
    text = ROUTES_C.read_text()
    body = text[text.index("api_routes[] = {"):]
    body = body[:body.index("\n};")]
    for line in body.splitlines():
        m = ROW.match(line)
        if not m:
            continue
        methods = [METHOD_BITS[b.strip()] for b in m.group(2).split("|")]
        if ("GET" in methods and "HEAD" not in methods and
                "ROUTE_NO_HEAD" not in m.group(6)):
            methods.append("HEAD")
        query = [] if m.group(7) == "NULL" else m.group(7).strip('"').split()
        out.append(Route(m.group(1), methods, m.group(3), m.group(4),
                         m.group(5), m.group(6).strip(), query))
    assert out, "no rows found in %s" % ROUTES_C
    return out


def path_regex(pattern):
    """The regex of a table path: {name} is one segment, a final * the rest."""
    out = ""
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "{":
            i = pattern.index("}", i)
            out += "[^/]*"
        elif c == "*" and i == len(pattern) - 1:
            out += ".*"
        else:
            out += re.escape(c)
        i += 1
    return "^" + out + "$"


def match(path, table=None):
    """(table path, [rows with that path]) for a request path, or (None, [])."""
    table = table if table is not None else routes()
    for r in table:
        if re.match(path_regex(r.path), path):
            return r.path, [x for x in table if x.path == r.path]
    return None, []


def allow_of(rows):
    """The Allow header the dispatcher sends for these rows."""
    methods = {m for r in rows for m in r.methods}
    return ", ".join(m for m in ALLOW_ORDER if m in methods)
