"""An SMTP sink run as its own process, for tests that kill and restart workers.

::

    python tests/mail/smtp_sink_process.py --log received.log [--stall 0.5]

It prints its port on the first line of stdout, then appends the Message-ID of
every message it accepts to ``--log``, one a line. Each line is flushed and
fsync'ed *before* the 250 reply goes out, so a line in the log means "the server
took the message" even if the sender (or the test) is killed a moment later.
``--stall`` waits that long before accepting each message, to hold messages in
flight. SIGTERM stops it.

It lives in a process of its own so that a test can SIGKILL workers around it
without disturbing it, and read what it has received from the file at any time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from email.parser import BytesHeaderParser
from typing import IO

from aiosmtpd.smtp import SMTP, Envelope, Session


class _LoggingHandler:
    def __init__(self, log: IO[str], stall: float) -> None:
        self.log = log
        self.stall = stall

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.stall:
            await asyncio.sleep(self.stall)
        headers = BytesHeaderParser().parsebytes(envelope.original_content or b"")
        message_id = str(headers.get("Message-ID", "<none>")).strip()
        # Written and synced before replying: the log never misses an accepted
        # message. Blocking the loop for the fsync is fine in a test sink.
        self.log.write(message_id + "\n")
        self.log.flush()
        os.fsync(self.log.fileno())
        return "250 2.0.0 OK"


async def _serve(log: IO[str], stall: float) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    handler = _LoggingHandler(log, stall)
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="drill-sink", loop=loop), host="127.0.0.1", port=0
    )
    print(server.sockets[0].getsockname()[1], flush=True)
    await stop.wait()
    server.close()
    await server.wait_closed()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", required=True, help="file to append Message-IDs to")
    parser.add_argument("--stall", type=float, default=0.0, help="seconds to hold each message")
    args = parser.parse_args()
    with open(args.log, "a", encoding="ascii") as log:
        asyncio.run(_serve(log, args.stall))


if __name__ == "__main__":
    main()
