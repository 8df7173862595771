#!/usr/bin/python3
# userapi bench: a slowloris: N connections that dribble request headers, reopened as the server closes them.
"""usage: slowloris.py HOST PORT N SECONDS

Keeps N connections open to HOST:PORT for SECONDS, each sending a request
line and then one header byte at a time, never the blank line that ends
the head; a connection the server closes (its header timeout) is opened
again. Prints one line: connections opened, closed by the server, bytes
sent."""

import errno
import random
import selectors
import socket
import sys
import time


def main():
    host, port, n, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
        float(sys.argv[4])
    sel = selectors.DefaultSelector()
    opened = closed = sent = 0
    socks = set()

    def open_one():
        nonlocal opened
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect((host, port))
        except BlockingIOError:
            pass
        except OSError as e:
            s.close()
            if e.errno in (errno.EMFILE, errno.ENFILE):
                return False
            return True
        sel.register(s, selectors.EVENT_READ, [b"GET /healthz HTTP/1.1\r\n"
                                               b"Host: x\r\n", 0])
        socks.add(s)
        opened += 1
        return True

    end = time.monotonic() + secs
    next_drip = 0.0
    while time.monotonic() < end:
        while len(socks) < n:
            if not open_one():
                break
        for key, _ in sel.select(timeout=0.1):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:
                sel.unregister(s)
                socks.discard(s)
                s.close()
                closed += 1
        now = time.monotonic()
        if now >= next_drip:
            # one byte per connection per second, after the request line
            for s in list(socks):
                st = sel.get_key(s).data
                chunk = st[0][:1] if st[0] else \
                    random.choice([b"X", b"-", b"a", b":"])
                st[0] = st[0][1:]
                try:
                    sent += s.send(chunk)
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    sel.unregister(s)
                    socks.discard(s)
                    s.close()
                    closed += 1
            next_drip = now + 1.0
    print("slowloris: connections=%d opened=%d closed_by_server=%d "
          "bytes=%d" % (n, opened, closed, sent))
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
