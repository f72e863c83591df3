"""``engage bounces [--host H] [--port P]``: the bounce receiver on its own.

Each ``engage worker`` (and ``engage serve`` sending mail) already runs one when
``mail.bounce_port`` is set; this command runs only the receiver, for a host that
takes the domain's mail but sends none::

    engage bounces --port 2526         # until SIGTERM or Ctrl+C

Exit status 2 for a bad setting, no port, pending migrations, or (on SQLite) another
process serving the database: there ``engage serve`` runs the receiver itself.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Callable

from engage import db
from engage.logs import configure_logging
from engage.mail.bounce_server import start_bounce_server
from engage.settings import SettingsError, load_settings, with_secret_key
from engage.worker.lock import sender_lock


def add_commands(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    config_option: Callable[[argparse.ArgumentParser], None],
) -> None:
    command = sub.add_parser(
        "bounces",
        help="run the bounce receiver (SMTP) on its own",
        description="Receive bounces, complaints and unsubscribes by mail for "
        "bounces+<token>@ and unsubscribe+<token>@ mail.domain.",
    )
    command.add_argument("--host", help="address to listen on (default: mail.bounce_host)")
    command.add_argument("--port", type=int, help="port to listen on (default: mail.bounce_port)")
    config_option(command)
    command.set_defaults(func=bounces)


async def bounces(args: argparse.Namespace) -> int:
    settings = with_secret_key(load_settings(args.config))
    configure_logging(settings)
    port = args.port if args.port is not None else settings.mail.bounce_port
    if not port:
        raise SettingsError("mail.bounce_port: set a port (or --port) to run the bounce receiver")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # SQLite has one serving process: `engage serve` runs the receiver itself then.
    lock = sender_lock(settings)
    if lock is not None:
        lock.acquire()
    try:
        async with db.database(settings, process_wide=True) as ctx:
            if pending := await db.pending_migrations(ctx):
                raise db.PendingMigrations(pending)
            server = await start_bounce_server(settings, host=args.host, port=port)
            print(
                f"bounce receiver listening on {server.host}:{server.port} (SIGTERM to stop)",
                flush=True,
            )
            try:
                await stop.wait()
            finally:
                await server.stop()
    finally:
        if lock is not None:
            lock.release()
    return 0
