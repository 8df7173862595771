# userapi: `make bench` helper: one argon2id hash at the service's cost and the time of one verify, via libargon2.
"""
    /usr/bin/python3 bench/argon2id.py M_KIB T P RUNS < password

Calls the library the service links (libargon2.so.1) through ctypes, with
the service's salt and key lengths (src/auth/password.c): hashes the
password read from stdin once, then times RUNS calls of argon2id_verify
on that hash. Prints one line for bench/run.sh:

    argon2id-result runs=N cpu_us=C wall_us=W hash=$argon2id$v=19$...

C and W are the medians over the runs of the process CPU time (every
thread, so P > 1 counts all lanes) and of the wall time of one verify.
"""

import ctypes
import statistics
import sys
import time

SALT_LEN = 16           # PASSWORD_SALT_LEN
KEY_LEN = 32            # PASSWORD_KEY_LEN
ARGON2_ID = 2           # Argon2_id of argon2.h
ARGON2_OK = 0


def fail(msg):
    sys.stderr.write("argon2id.py: %s\n" % msg)
    sys.exit(1)


def load():
    try:
        lib = ctypes.CDLL("libargon2.so.1")
    except OSError as e:
        fail("cannot load libargon2.so.1 (Debian libargon2-1): %s" % e)
    u32, size = ctypes.c_uint32, ctypes.c_size_t
    lib.argon2_encodedlen.argtypes = [u32, u32, u32, u32, u32, ctypes.c_int]
    lib.argon2_encodedlen.restype = size
    lib.argon2id_hash_encoded.argtypes = [
        u32, u32, u32, ctypes.c_char_p, size, ctypes.c_char_p, size, size,
        ctypes.c_char_p, size]
    lib.argon2id_hash_encoded.restype = ctypes.c_int
    lib.argon2id_verify.argtypes = [ctypes.c_char_p, ctypes.c_char_p, size]
    lib.argon2id_verify.restype = ctypes.c_int
    lib.argon2_error_message.argtypes = [ctypes.c_int]
    lib.argon2_error_message.restype = ctypes.c_char_p
    return lib


def main():
    if len(sys.argv) != 5:
        fail("usage: argon2id.py M_KIB T P RUNS < password")
    try:
        m, t, p, runs = (int(a) for a in sys.argv[1:])
    except ValueError:
        fail("M_KIB, T, P and RUNS must be integers")
    if m < 8 * p or t < 1 or p < 1 or runs < 1:
        fail("invalid cost m=%d t=%d p=%d or runs %d" % (m, t, p, runs))
    pw = sys.stdin.buffer.read().rstrip(b"\n")
    if not pw:
        fail("no password on stdin")

    lib = load()
    salt = open("/dev/urandom", "rb").read(SALT_LEN)
    enclen = lib.argon2_encodedlen(t, m, p, SALT_LEN, KEY_LEN, ARGON2_ID)
    enc = ctypes.create_string_buffer(enclen + 1)
    rc = lib.argon2id_hash_encoded(t, m, p, pw, len(pw), salt, SALT_LEN,
                                   KEY_LEN, enc, len(enc))
    if rc != ARGON2_OK:
        fail("argon2id_hash_encoded: %s" %
             lib.argon2_error_message(rc).decode())

    cpu, wall = [], []
    for _ in range(runs):
        c0, w0 = time.process_time_ns(), time.perf_counter_ns()
        rc = lib.argon2id_verify(enc.value, pw, len(pw))
        c1, w1 = time.process_time_ns(), time.perf_counter_ns()
        if rc != ARGON2_OK:
            fail("argon2id_verify: %s" %
                 lib.argon2_error_message(rc).decode())
        cpu.append((c1 - c0) // 1000)
        wall.append((w1 - w0) // 1000)

    print("argon2id-result runs=%d cpu_us=%d wall_us=%d hash=%s" %
          (runs, statistics.median(cpu), statistics.median(wall),
           enc.value.decode()))


if __name__ == "__main__":
    main()
