#!/usr/bin/python3
# userapi: write the seed corpus of the fuzz targets (tests/fuzz/corpus/<target>/).
"""Run once after changing a seed; the files are committed. The bearer seeds
are HS256 tokens signed with fuzz_bearer.c's key, valid at its FUZZ_NOW."""

import base64
import hashlib
import hmac
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
KEY = b"userapi-fuzz-key-0123456789abcdef"
SUB = "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c1b2a"


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt(header, claims, key=KEY):
    h = b64(json.dumps(header).encode())
    p = b64(json.dumps(claims).encode())
    sig = hmac.new(key, ("%s.%s" % (h, p)).encode(), hashlib.sha256).digest()
    return "%s.%s.%s" % (h, p, b64(sig))


GOOD = {"sub": SUB, "email": "ann@example.com", "tv": 1, "iat": 1899999000,
        "exp": 1900001000, "iss": "userapi"}

SEEDS = {
    "path": ["/users/" + SUB, "/users/3F2B8C1E9D4A4C7B8E215A6F0D9C1B2A",
             "/users/", "/users/me", "/users/%00", "/users/" + "a" * 100,
             "/users/" + SUB + "/notify"],
    "user_json": [
        '{"name":"Ann","email":"ann@example.com","age":30,"password":"correct horse"}',
        '{"name":"  Bob ","email":"Bob@EXAMPLE.com","age":null}',
        '{"name":"","email":"x","age":"30","extra":1}',
        '{"age":30.5,"is_active":false,"is_admin":true}',
        '{"current_password":"old password","new_password":"new password"}',
        '[1,2,3]', 'null', '{"name":"\\u00e9\\ud83d\\ude00"}', '{"name":',
        '{"email":"a@[127.0.0.1]"}', '{"email":"\\"q\\"@example.com"}',
        '{"age":-1e400}', '',
    ],
    "token_form": [
        "grant_type=password&username=ann%40example.com&password=correct+horse",
        "username=ann@example.com&password=x&scope=read%20write",
        "grant_type=client_credentials", "username=%ZZ&password=%00%ff",
        "username=" + "a" * 300 + "@example.com&password=p",
        "&&=&username&password=",
    ],
    "bearer": [
        "Bearer " + jwt({"alg": "HS256", "typ": "JWT"}, GOOD),
        "bearer\t" + jwt({"alg": "HS256", "typ": "JWT"}, dict(GOOD, tv="1")),
        "Bearer " + jwt({"alg": "none"}, GOOD),
        "Bearer " + jwt({"alg": "HS512"}, GOOD),
        "Bearer " + jwt({"alg": "HS256"}, dict(GOOD, exp=1)),
        "Bearer " + jwt({"alg": "HS256"}, dict(GOOD, iss="other")),
        "Bearer " + jwt({"alg": "HS256"}, GOOD, key=b"another key" * 4),
        "Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", "Bearer a.b.c",
    ],
    "query": ["skip=0&limit=10", "limit=100&email=ann%40example.com",
              "limit=abc", "skip=-1&limit=1000", "email=%E2%82%AC%ff%fe",
              "status=failed&skip=99999999999999999999", "v=1&v=2&&",
              "limit=+5", "limit=0x10", "last_id=7"],
    "if_match": ['"3"', '"3", "5"', 'W/"3"', "*", '"abc"', '"3",W/"4","5"',
                 '"' + "9" * 30 + '"', ' , ,"1"', '"', '""'],
    "mail": [
        "ann@example.com\0Welcome!\0Hello Ann,\nwelcome.\n\0job-1",
        "bob@example.com\0Gr\u00fc\u00dfe \U0001F600\0.\n..\n.x\r\n\0id",
        "x@y\0Subject: evil\r\nBcc: a@b\0" + "a" * 2000 + "\0id",
        "bad address@x\0s\0b\0i", "<a@b>\0\0\0", "a@b\0\x01\x7f\0\0",
    ],
    "config": [
        "DATABASE_URL=postgresql://u@localhost/db\nBIND=0.0.0.0:8000\nWORKERS=2",
        "BIND=[::1]:8080\nLOG_FORMAT=json\nUSERAPI_DEV=1",
        "BIND=:80\nDB_POOL_SIZE=0\nBODY_LIMIT=99999999999999",
        "ARGON2_MEMORY_KIB=8\nARGON2_PARALLELISM=16",
        "RATE_LIMIT_STRICT=10/60\nRATE_LIMIT_GENERAL=600/60",
        "TRUSTED_PROXIES=10.0.0.0/8,::1/128,192.168.1.1",
        "METRICS_ALLOW=127.0.0.1/32\nSHUTDOWN_GRACE_SECONDS=30",
        "WORKERS=-1\nTASKS_MAX=1e3\nACCESS_TOKEN_EXPIRE_MINUTES= 5",
    ],
}


def main():
    for target, seeds in SEEDS.items():
        d = HERE / "corpus" / target
        d.mkdir(parents=True, exist_ok=True)
        for old in d.iterdir():
            old.unlink()
        for i, s in enumerate(seeds):
            (d / ("seed-%02d" % i)).write_bytes(s.encode())


if __name__ == "__main__":
    main()
