# userapi: `make bench`'s SMTP sink: accepts every mail at once and writes "<job id> <unix time>" per mail.
"""
    notify_sink.py PORT OUTFILE

A minimal SMTP server on asyncio (no aiosmtpd, so that the sink is not
the bottleneck): EHLO, MAIL, RCPT, RSET, NOOP are answered 250, DATA 354
then 250 once the data ends, QUIT 221. Commands may be pipelined. For each
mail it appends one line to OUTFILE: the job id from the Message-ID
(<job id@domain>) and the time.time() at which the data ended.
"""

import asyncio
import re
import sys
import time

MSGID = re.compile(rb"^Message-ID: <([^@>]+)@", re.M | re.I)


class Smtp(asyncio.Protocol):
    out = None

    def connection_made(self, transport):
        self.t = transport
        self.buf = b""
        self.data = False
        transport.write(b"220 bench-sink ESMTP\r\n")

    def data_received(self, chunk):
        self.buf += chunk
        replies = []
        while True:
            if self.data:
                end = self.buf.find(b"\r\n.\r\n")
                if end < 0:
                    break
                body, self.buf = self.buf[:end], self.buf[end + 5:]
                self.data = False
                m = MSGID.search(body)
                Smtp.out.write("%s %.6f\n" % (
                    m.group(1).decode() if m else "?", time.time()))
                replies.append(b"250 2.0.0 OK")
                continue
            nl = self.buf.find(b"\r\n")
            if nl < 0:
                break
            line, self.buf = self.buf[:nl], self.buf[nl + 2:]
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                replies.append(b"250-bench-sink\r\n250-PIPELINING\r\n"
                               b"250 8BITMIME")
            elif verb == b"DATA":
                replies.append(b"354 go on")
                self.data = True
            elif verb == b"QUIT":
                replies.append(b"221 bye")
                self.t.write(b"\r\n".join(replies) + b"\r\n")
                self.t.close()
                return
            else:
                replies.append(b"250 OK")
        if replies:
            self.t.write(b"\r\n".join(replies) + b"\r\n")


async def main(port, path):
    Smtp.out = open(path, "a", buffering=1)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Smtp, "127.0.0.1", port, backlog=512)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
