# userapi: generated clients are a test: openapi-typescript types from the served document, tsc --strict, the scenario run against the service.

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_generated_typescript_client(base_url):
    """tests/client/run.sh: types from GET /openapi.json, the scenario
    (sign up, log in with a form, read and PATCH with If-Match, notify and
    read the job, change the password and see the old token refused)
    compiled with tsc --strict, then run by node against this service."""
    p = subprocess.run([str(REPO / "tests/client/run.sh"), base_url],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=300)
    print(p.stdout)
    assert p.returncode == 0, p.stdout[-4000:]
    assert "\n1..6\n" in p.stdout, p.stdout[-2000:]
