"""Child processes the benchmarks start: HTTP servers and the SMTP sink.

::

    with http_server(cmd, url="http://127.0.0.1:8123/healthz", env=env, cwd=tmp, log=log):
        ...                                   # the server answers 200 at url
    with smtp_sink(tmp) as sink:
        ... sink.port ...
    sink.received                             # messages it accepted, once stopped

Output goes to log files (a full pipe would stall a child); when a child fails to
start, the error quotes the end of its log.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

BENCH_DIR = Path(__file__).resolve().parent
_START_TIMEOUT = 60.0


class ChildFailed(RuntimeError):
    """A child process did not start, or ended early; the message quotes its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_environ(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without ENGAGE_* settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENGAGE_")}
    env.update(extra or {})
    return env


def _tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"


def run_checked(cmd: Sequence[str], *, env: Mapping[str, str], cwd: Path, log: Path) -> None:
    """Run a command to completion; raise :class:`ChildFailed` if it fails."""
    with log.open("ab") as out:
        code = subprocess.call(list(cmd), env=dict(env), cwd=cwd, stdout=out, stderr=out)
    if code:
        raise ChildFailed(f"{' '.join(cmd)} exited with {code}:\n{_tail(log)}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=25)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def http_server(
    cmd: Sequence[str], *, url: str, env: Mapping[str, str], cwd: Path, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``cmd`` and wait until ``url`` answers 200; stop it (SIGTERM) on exit."""
    with log.open("ab") as out:
        proc = subprocess.Popen(list(cmd), env=dict(env), cwd=cwd, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + _START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise ChildFailed(f"{' '.join(cmd)} exited with {proc.returncode}:\n{_tail(log)}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=2.0).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise ChildFailed(
                    f"{url} did not answer 200 within {_START_TIMEOUT}s:\n{_tail(log)}"
                )
            time.sleep(0.1)
        yield proc
    finally:
        _stop(proc)


@dataclass
class Sink:
    port: int
    #: Messages accepted; known once the sink has stopped.
    received: int | None = None


@contextlib.contextmanager
def smtp_sink(workdir: Path) -> Iterator[Sink]:
    """Run ``_smtp_sink.py`` in a child process for the duration of the block."""
    log = workdir / "smtp_sink.log"
    with log.open("ab") as err:
        proc = subprocess.Popen(
            [sys.executable, str(BENCH_DIR / "_smtp_sink.py")],
            stdout=subprocess.PIPE,
            stderr=err,
            cwd=workdir,
        )
    assert proc.stdout is not None
    with proc.stdout:
        try:
            first = proc.stdout.readline().decode().split()
            if len(first) != 2 or first[0] != "PORT":
                raise ChildFailed(f"SMTP sink did not start:\n{_tail(log)}")
            sink = Sink(port=int(first[1]))
            yield sink
        finally:
            _stop(proc)
        rest = proc.stdout.read().decode().split()
    if len(rest) == 2 and rest[0] == "RECEIVED":
        sink.received = int(rest[1])
