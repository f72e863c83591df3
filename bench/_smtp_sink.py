"""An SMTP server that accepts every message and keeps none (aiosmtpd).

Run in its own process, so the server does not compete with the sender for one
event loop::

    python bench/_smtp_sink.py          # prints "PORT 41234", then serves

On SIGTERM or SIGINT it prints "RECEIVED <n>" (messages accepted) and exits.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session


class _Counter:
    def __init__(self) -> None:
        self.received = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.received += 1
        return "250 2.0.0 OK"


async def serve(host: str = "127.0.0.1", port: int = 0) -> None:
    loop = asyncio.get_running_loop()
    counter = _Counter()

    def protocol() -> Any:
        # A fixed hostname: the default looks up the machine's FQDN, which can be slow.
        return SMTP(counter, hostname="bench-sink", loop=loop)

    server = await loop.create_server(protocol, host=host, port=port)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    await stop.wait()
    server.close()
    print(f"RECEIVED {counter.received}", flush=True)


if __name__ == "__main__":
    asyncio.run(serve())
