# userapi: WebSocket load for bench/ws.sh: hold many idle sockets.
"""
    ws.py idle URL TOKEN N
        Open N sockets to URL/ws (bearer TOKEN), print "ready N" once all are
        open, hold them (answering pings) until stdin closes or says
        anything, then print how many are still open.

Plain asyncio protocols with a minimal frame parser. The broadcast is timed
by bench/ws_bench.c.
"""

import asyncio
import base64
import os
import struct
import sys
import time


def parse_url(url):
    host, port = url.replace("http://", "").rstrip("/").split(":")
    return host, int(port)


class WS(asyncio.Protocol):
    """A client socket: handshake, then text frames to on_text."""

    def __init__(self, token, on_text=None):
        self.token = token
        self.on_text = on_text
        self.buf = b""
        self.open = asyncio.get_running_loop().create_future()
        self.closed = False
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write((
            "GET /ws HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
            "Sec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n\r\n"
            % (key, self.token)).encode())

    def data_received(self, data):
        now = time.time_ns()
        self.buf += data
        if not self.open.done():
            if b"\r\n\r\n" not in self.buf:
                return
            head, self.buf = self.buf.split(b"\r\n\r\n", 1)
            status = int(head.split(b" ")[1])
            if status != 101:
                self.open.set_exception(RuntimeError("status %d" % status))
                self.open.exception()		# retrieved: open_many retries
                self.transport.close()
                return
            self.open.set_result(True)
        while len(self.buf) >= 2:
            b0, b1 = self.buf[0], self.buf[1]
            n, off = b1 & 0x7f, 2
            if n == 126:
                if len(self.buf) < 4:
                    return
                n, off = struct.unpack("!H", self.buf[2:4])[0], 4
            elif n == 127:
                if len(self.buf) < 10:
                    return
                n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
            if len(self.buf) < off + n:
                return
            payload = self.buf[off:off + n]
            self.buf = self.buf[off + n:]
            op = b0 & 0x0f
            if op == 9:
                self.send(10, payload)
            elif op == 1 and self.on_text is not None:
                self.on_text(self, payload, now)
            elif op == 8:
                self.closed = True

    def connection_lost(self, exc):
        self.closed = True
        if not self.open.done():
            self.open.set_exception(exc or RuntimeError("closed"))
            self.open.exception()

    def send(self, op, payload):
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            hdr = struct.pack("!BB", 0x80 | op, 0x80 | n)
        else:
            hdr = struct.pack("!BBH", 0x80 | op, 0x80 | 126, n)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(hdr + mask + body)


async def open_many(url, token, n, on_text=None, parallel=100):
    host, port = parse_url(url)
    loop = asyncio.get_running_loop()
    sem = asyncio.Semaphore(parallel)
    out = []

    async def one():
        async with sem:
            for attempt in range(50):
                try:
                    _, p = await loop.create_connection(
                        lambda: WS(token, on_text), host, port)
                    await asyncio.wait_for(p.open, 30)
                    out.append(p)
                    return
                except (OSError, RuntimeError, asyncio.TimeoutError):
                    await asyncio.sleep(0.1 * (attempt + 1))
            raise RuntimeError("could not open a socket")
    await asyncio.gather(*(one() for _ in range(n)))
    return out


async def idle(url, token, n):
    socks = await open_many(url, token, n)
    print("ready %d" % len(socks), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)
    print("open %d" % sum(not s.closed for s in socks), flush=True)
    for s in socks:
        s.transport.close()


def main():
    if len(sys.argv) >= 5 and sys.argv[1] == "idle":
        asyncio.run(idle(sys.argv[2], sys.argv[3], int(sys.argv[4])))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
