"""A small HTTP load generator: N keep-alive connections for T seconds.

Run it in its own process, so it does not share an event loop (or a core) with the
server it measures::

    python bench/_load.py http://127.0.0.1:8000/healthz --connections 16 --seconds 5

It prints one JSON object: requests/s, p50/p95/p99 latency in milliseconds,
requests, errors, and ``load_cpu``: the share of one core the generator used (near
1.0 it, not the server, was the limit). Requests go over raw asyncio streams
(HTTP/1.1, keep-alive), which costs far less CPU per request than a full client
library, so the generator is rarely the bottleneck. A warm-up period is run first and not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass
class _Tally:
    latencies_ns: list[int] = field(default_factory=list)
    errors: int = 0


async def _connection(
    host: str, port: int, request: bytes, *, warmup_end: float, end: float, tally: _Tally
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while (start := time.perf_counter_ns()) < end:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length:
                await reader.readexactly(length)
            if start < warmup_end:
                continue
            if head[9:12] == b"200":
                tally.latencies_ns.append(time.perf_counter_ns() - start)
            else:
                tally.errors += 1
    except (OSError, asyncio.IncompleteReadError):
        tally.errors += 1
    finally:
        writer.close()


def _percentile(sorted_values: list[int], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index] / 1e6


async def generate_load(
    url: str, *, connections: int, seconds: float, warmup_seconds: float = 1.0
) -> dict[str, Any]:
    """Hit ``url`` with GETs over ``connections`` connections; return the figures."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = (
        f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        "User-Agent: engage-bench\r\nAccept: */*\r\n\r\n"
    ).encode()
    tally = _Tally()
    cpu_start = time.process_time()
    now = time.perf_counter_ns()
    warmup_end = now + int(warmup_seconds * 1e9)
    end = warmup_end + int(seconds * 1e9)
    await asyncio.gather(
        *(
            _connection(host, port, request, warmup_end=warmup_end, end=end, tally=tally)
            for _ in range(connections)
        )
    )
    # Near 1.0 the generator itself was the limit, not the server.
    load_cpu = (time.process_time() - cpu_start) / ((time.perf_counter_ns() - now) / 1e9)
    latencies = sorted(tally.latencies_ns)
    return {
        "requests/s": round(len(latencies) / seconds, 1),
        "p50_ms": round(_percentile(latencies, 0.50), 3),
        "p95_ms": round(_percentile(latencies, 0.95), 3),
        "p99_ms": round(_percentile(latencies, 0.99), 3),
        "requests": len(latencies),
        "errors": tally.errors,
        "load_cpu": round(load_cpu, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds not counted")
    args = parser.parse_args()
    figures = asyncio.run(
        generate_load(
            args.url,
            connections=args.connections,
            seconds=args.seconds,
            warmup_seconds=args.warmup,
        )
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
