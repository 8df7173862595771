# userapi: WebSocket load for bench/ws.sh: hold idle sockets, or time a broadcast to many clients.
"""
    ws.py idle URL TOKEN N
        Open N sockets to URL/ws (bearer TOKEN), print "ready N" once all are
        open, hold them (answering pings) until stdin closes or says
        anything, then print how many are still open.

    ws.py broadcast TOKEN N MESSAGES RATE SIZE URL [URL...]
        N receivers spread over the URLs (one process per URL), one sender on
        the first URL sending MESSAGES messages of SIZE bytes at RATE a
        second; each text carries its send time. Prints one JSON line:
        deliveries expected and seen, duplicates, latency p50/p99/max (ms,
        send to receive, same clock), deliveries per second.

Plain asyncio protocols with a minimal frame parser, so the client costs as
little CPU as possible next to the service on the same machine.
"""

import asyncio
import base64
import json
import multiprocessing
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


def receiver(url, token, n, expect, start_evt, ready_q, out_q):
    """One process: n sockets on url; latencies of what they receive."""
    async def run():
        lat = []
        seen = {}
        dup = [0]

        def on_text(sock, payload, now):
            # {"type":"message","id":N,...,"text":"K SENT_NS ...",...}:
            # read without a JSON parser, the client's cost is measured too.
            i = payload.find(b'"id":')
            if i < 0 or not payload.startswith(b'{"type":"message"'):
                return
            j = payload.find(b",", i)
            mid = int(payload[i + 5:j])
            k = payload.find(b'"text":"', j) + 8
            a = payload.find(b" ", k)
            b = payload.find(b" ", a + 1)
            lat.append((now - int(payload[a + 1:b])) / 1e6)
            if mid <= seen.get(id(sock), 0):
                dup[0] += 1
            seen[id(sock)] = mid

        socks = []
        per = n
        socks = await open_many(url, token, per, on_text)
        ready_q.put(len(socks))
        deadline = time.monotonic() + 120
        while len(lat) < expect * per and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        out_q.put({"lat": lat, "dup": dup[0], "last": time.time_ns()})
        for s in socks:
            s.transport.close()
    asyncio.run(run())


async def send_all(url, token, messages, rate, size):
    (sender,) = await open_many(url, token, 1)
    t0 = time.time_ns()
    pad = "x" * max(0, size - 40)
    for k in range(messages):
        target = t0 + int(k * 1e9 / rate)
        delay = (target - time.time_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        sender.send(1, ("%d %d %s" % (k, time.time_ns(), pad)).encode())
    await asyncio.sleep(1)
    sender.transport.close()
    return t0


def pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    i = min(len(sorted_vals) - 1, int(round(p / 100.0 * (len(sorted_vals) - 1))))
    return sorted_vals[i]


def broadcast(token, n, messages, rate, size, urls):
    ctx = multiprocessing.get_context("fork")
    ready_q, out_q = ctx.Queue(), ctx.Queue()
    procs = []
    per = [n // len(urls) + (1 if i < n % len(urls) else 0)
           for i in range(len(urls))]
    for url, k in zip(urls, per):
        p = ctx.Process(target=receiver,
                        args=(url, token, k, messages, None, ready_q, out_q))
        p.start()
        procs.append(p)
    opened = sum(ready_q.get(timeout=300) for _ in procs)
    time.sleep(1)
    t0 = asyncio.run(send_all(urls[0], token, messages, rate, size))
    results = [out_q.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(30)
    lat = sorted(x for r in results for x in r["lat"])
    last = max(r["last"] for r in results)
    secs = (last - t0) / 1e9
    print(json.dumps({
        "clients": opened, "messages": messages, "rate": rate, "size": size,
        "expected": opened * messages, "delivered": len(lat),
        "duplicates": sum(r["dup"] for r in results),
        "p50_ms": round(pct(lat, 50), 2), "p99_ms": round(pct(lat, 99), 2),
        "max_ms": round(lat[-1], 2) if lat else None,
        "delivered_per_s": round(len(lat) / secs) if secs > 0 else None,
    }), flush=True)


def main():
    if len(sys.argv) >= 5 and sys.argv[1] == "idle":
        asyncio.run(idle(sys.argv[2], sys.argv[3], int(sys.argv[4])))
    elif len(sys.argv) >= 8 and sys.argv[1] == "broadcast":
        broadcast(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]),
                  float(sys.argv[5]), int(sys.argv[6]), sys.argv[7:])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
