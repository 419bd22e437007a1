"""A small HTTP/1.1 load generator for the scenarios wrk cannot express (a different cookie or
body on every request): keep-alive connections on asyncio streams, run as its own process.

    python benchmarks/loadgen.py SPEC.json   ->  one JSON result on stdout

SPEC: {"host", "port", "connections", "duration", "max_requests",
       "requests": [{"method", "path", "headers": {...}, "body": str|null}, ...],
       "mode": "cycle" | "once"}
"cycle" repeats the list; "once" sends each request at most once (prepared carts, signed
webhook events) and stops early when they run out. The run is bounded by `duration` and by
`max_requests`, whichever comes first. Only 127.0.0.1 is accepted as host.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time


def _encode(request: dict, host: str) -> bytes:
    body = (request.get("body") or "").encode()
    lines = [f"{request['method']} {request['path']} HTTP/1.1", f"Host: {host}"]
    for name, value in (request.get("headers") or {}).items():
        lines.append(f"{name}: {value}")
    if body or request["method"] in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    header_lines = head.decode("latin-1").split("\r\n")
    status = int(header_lines[0].split(" ", 2)[1])
    length, chunked, close = 0, False, False
    for line in header_lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip())
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
        elif name == "connection" and value.strip().lower() == "close":
            close = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status, close


async def run(spec: dict) -> dict:
    host, port = spec["host"], int(spec["port"])
    if host != "127.0.0.1":
        raise SystemExit("loadgen only talks to 127.0.0.1")
    encoded = [_encode(request, f"{host}:{port}") for request in spec["requests"]]
    once = spec.get("mode") == "once"
    max_requests = int(spec.get("max_requests") or 10**9)
    if once:
        max_requests = min(max_requests, len(encoded))
    duration = float(spec["duration"])
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors = {"socket": 0, "non_2xx": 0}
    counter = {"next": 0}
    started = time.perf_counter()
    deadline = started + duration

    def take() -> bytes | None:
        index = counter["next"]
        if index >= max_requests or time.perf_counter() >= deadline:
            return None
        counter["next"] = index + 1
        return encoded[index % len(encoded)]

    async def connection():
        reader = writer = None
        while True:
            payload = take()
            if payload is None:
                break
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                begin = time.perf_counter()
                writer.write(payload)
                status, close = await asyncio.wait_for(_read_response(reader), timeout=30)
                latencies.append(time.perf_counter() - begin)
                statuses[str(status)] = statuses.get(str(status), 0) + 1
                if not 200 <= status < 400:
                    errors["non_2xx"] += 1
                if close:
                    writer.close()
                    reader = writer = None
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                errors["socket"] += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(int(spec["connections"]))))
    elapsed = time.perf_counter() - started
    latencies.sort()

    def percentile(fraction: float) -> float | None:
        if not latencies:
            return None
        return latencies[min(int(fraction * len(latencies)), len(latencies) - 1)] * 1000

    return {
        "requests": len(latencies),
        "sent": counter["next"],
        "seconds": round(elapsed, 3),
        "rps": round(len(latencies) / elapsed, 1) if elapsed else 0.0,
        "p50_ms": percentile(0.50),
        "p99_ms": percentile(0.99),
        "errors": errors,
        "statuses": statuses,
    }


def main(argv: list[str]) -> int:
    with open(argv[0]) as handle:
        spec = json.load(handle)
    print(json.dumps(asyncio.run(run(spec))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
