"""Real ``engage worker`` processes and a real SMTP sink process, for the proof tests.

::

    async with running_sink(tmp_path) as sink:
        config = write_worker_config(tmp_path, db_url=url, smtp_port=sink.port)
        async with WorkerPool(config) as pool:
            worker = await pool.start("w1")
            await worker.wait_running()
            ...
            assert await worker.terminate() == 0
        assert Counter(sink.received()) == ...

Workers log JSON to a file each, so a test can tell which worker sent what and
which lease owner name a process used.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from engage.mail.models import OutboxMessage

SINK_SCRIPT = Path(__file__).with_name("smtp_sink_process.py")
TEST_SECRET = "drill-secret-key-0123456789-abcdefghijklmnop"
MAIL_DOMAIN = "engage.localhost"


def message_id(row: OutboxMessage) -> str:
    """The Message-ID the renderer gives ``row`` (see ``Renderer.message_id``)."""
    return f"<{row.message_key}@{MAIL_DOMAIN}>"


def _engage_command() -> str:
    beside = Path(sys.executable).parent / "engage"
    found = str(beside) if beside.exists() else shutil.which("engage")
    if not found:
        raise RuntimeError("the engage command is not installed: pip install -e '.[test]'")
    return found


def _child_environment() -> dict[str, str]:
    # The settings file alone configures the worker: no ENGAGE_<SECTION>__<KEY>
    # from the developer's shell may leak into it.
    return {k: v for k, v in os.environ.items() if not (k.startswith("ENGAGE_") and "__" in k)}


async def wait_for(
    condition: Callable[[], Awaitable[bool]], *, within: float, what: str, every: float = 0.05
) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:.0f}s waiting for {what}")
        await asyncio.sleep(every)


# --- The sink -----------------------------------------------------------------------


class Sink:
    def __init__(self, port: int, log: Path) -> None:
        self.port = port
        self.log = log

    def received(self) -> list[str]:
        """Message-IDs of every accepted message, in order, duplicates included."""
        if not self.log.exists():
            return []
        return self.log.read_text(encoding="ascii").splitlines()

    def count(self) -> int:
        return len(self.received())


@contextlib.asynccontextmanager
async def running_sink(folder: Path, *, stall: float = 0.0) -> AsyncIterator[Sink]:
    """The sink process (``smtp_sink_process.py``) for the block's duration."""
    log = folder / "sink-received.log"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SINK_SCRIPT),
        "--log",
        str(log),
        "--stall",
        str(stall),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        if not line.strip():
            raise RuntimeError("the SMTP sink process did not start")
        yield Sink(int(line), log)
    finally:
        if proc.returncode is None:
            proc.terminate()
        try:
            await asyncio.wait_for(proc.communicate(), 10)
        except TimeoutError:
            proc.kill()
            await proc.communicate()


# --- Workers ------------------------------------------------------------------------


def _toml_value(value: object) -> str:
    # JSON strings and numbers are valid TOML for the plain values used here.
    return json.dumps(str(value) if isinstance(value, Path) else value)


def write_worker_config(
    folder: Path,
    *,
    db_url: str,
    smtp_port: int,
    concurrency: int = 4,
    **mail: object,
) -> Path:
    """A settings file for ``engage worker``: the test database, the sink, short leases.

    ``mail`` overrides keys of the ``[mail]`` section.
    """
    sections: dict[str, dict[str, object]] = {
        "app": {"secret_key": TEST_SECRET, "var_dir": folder / "var", "log_format": "json"},
        "database": {"url": db_url},
        "smtp": {
            "host": "127.0.0.1",
            "port": smtp_port,
            "timeout_seconds": 10.0,
            "concurrency": concurrency,
        },
        "mail": {
            "domain": MAIL_DOMAIN,
            # 5 is the least allowed: a killed worker's rows come back quickly.
            "lease_seconds": 5,
            "poll_seconds": 0.05,
            # No failures are expected; if one happens it is retried soon.
            "retry_base_seconds": 0.5,
            "retry_max_seconds": 2.0,
            **mail,
        },
    }
    text = "".join(
        f"[{name}]\n" + "".join(f"{key} = {_toml_value(v)}\n" for key, v in values.items())
        for name, values in sections.items()
    )
    path = folder / "worker.toml"
    path.write_text(text, encoding="utf-8")
    return path


class WorkerProcess:
    """One ``engage worker`` process, its stdout and (JSON) log in files."""

    def __init__(self, proc: asyncio.subprocess.Process, stdout: Path, stderr: Path) -> None:
        self.proc = proc
        self.stdout_path = stdout
        self.stderr_path = stderr
        self.started = time.monotonic()

    @classmethod
    async def start(cls, config: Path, name: str) -> WorkerProcess:
        stdout = config.parent / f"{name}.out"
        stderr = config.parent / f"{name}.log"
        with stdout.open("wb") as out, stderr.open("wb") as err:
            proc = await asyncio.create_subprocess_exec(
                _engage_command(),
                "worker",
                "--config",
                str(config),
                stdout=out,
                stderr=err,
                cwd=config.parent,
                env=_child_environment(),
            )
        return cls(proc, stdout, stderr)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def log_records(self) -> list[dict[str, Any]]:
        records = []
        for line in self.stderr().splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict):
                    records.append(entry)
        return records

    def owner(self) -> str | None:
        """The lease owner name the worker logged on start (None before it started)."""
        for entry in self.log_records():
            if entry.get("message") == "worker started":
                return str(entry["owner"])
        return None

    def sent_ids(self) -> list[int]:
        """Outbox ids this worker sent and marked, from its log."""
        return [int(e["outbox_id"]) for e in self.log_records() if e.get("message") == "sent"]

    async def wait_running(self, within: float = 20) -> None:
        """Until the worker says it runs (its SIGTERM handler is in place by then)."""

        async def running() -> bool:
            if self.returncode is not None:
                raise AssertionError(
                    f"worker exited with {self.returncode} before running:\n{self.stderr()}"
                )
            return "worker running" in self.stdout()

        await wait_for(running, within=within, what="the worker to start")

    async def wait(self, within: float) -> int:
        try:
            return await asyncio.wait_for(self.proc.wait(), within)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise AssertionError(
                f"worker {self.pid} did not exit within {within}s:\n{self.stderr()[-3000:]}"
            ) from None

    async def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as in a crash or an OOM kill."""
        if self.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def terminate(self, within: float = 15) -> int:
        if self.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        return await self.wait(within)


class WorkerPool:
    """Starts workers from one settings file; kills any still running at the end.

    ::

        async with WorkerPool(config) as pool:
            worker = await pool.start("w1")
    """

    def __init__(self, config: Path) -> None:
        self.config = config
        self.workers: list[WorkerProcess] = []

    async def start(self, name: str) -> WorkerProcess:
        worker = await WorkerProcess.start(self.config, name)
        self.workers.append(worker)
        return worker

    async def __aenter__(self) -> WorkerPool:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        # A failed test must not leave workers behind, sending into the next one.
        for worker in self.workers:
            await worker.kill()
