"""Serving load test: p50/p99 latency and throughput of the HTTP API under a fixed request
rate (``benchmarks/results/serving.md``).

The server is ``fusionrec serve BUNDLE`` in its own process on 127.0.0.1; this script is the
second process, an open-loop asyncio/httpx load generator: requests are sent on a fixed
schedule (not after the previous answer), so a slow server shows as latency, not as a lower
offered rate. Each scenario runs ``--seconds`` after a short warm-up. Bars (issue 10):
recommendations p99 <= 20 ms at 200 req/s with zero errors; search p99 <= 50 ms at 50 req/s.
The result file records the server's worker processes and thread settings and the machine's
load average before and after each scenario, so a measurement on a busy machine shows as one.

    python benchmarks/bench_serve.py --bundle bundles/demo [--seconds 20] [--workers 1]
    python benchmarks/bench_serve.py --run runs/demo/mgcn    # exports the bundle first
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from common import RESULTS, header, write_result
from fusionrec.serve.app import THREADS_PER_REQUEST

QUERIES = [
    "a space adventure with robots",
    "romantic comedy in Paris",
    "a scary haunted house",
    "animated film for children",
    "gangsters and a heist",
    "war drama about soldiers",
    "a cowboy western",
    "a detective solving a murder",
]
#: Environment variables that size thread pools, recorded as the server process saw them.
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
#: (name, rate per second, p99 bar in ms or None)
SCENARIOS = [
    ("recommendations", 200, 20.0),
    ("similar items", 200, None),
    ("search", 50, 50.0),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(bundle: Path, port: int, workers: int) -> subprocess.Popen:
    command = [sys.executable, "-c", "from fusionrec.cli import main; main()", "serve",
               str(bundle), "--port", str(port), "--workers", str(workers)]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read().decode()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit("server did not start within 180 s")


def urls(name: str, meta: dict, users: list[str], items: list[str], n: int) -> list[str]:
    rng = np.random.default_rng(0)
    if name == "recommendations":
        return [f"/users/{users[i]}/recommendations?k=10" for i in rng.integers(0, len(users), n)]
    if name == "similar items":
        by = "fused" if "fused" in meta["views"] else meta["views"][0]
        return [f"/items/{items[i]}/similar?by={by}&k=10" for i in rng.integers(0, len(items), n)]
    return [f"/search?q={QUERIES[i % len(QUERIES)]}&by=fused&k=10" for i in range(n)]


async def run_load(base: str, paths: list[str], rate: float) -> tuple[np.ndarray, int, float]:
    """Send ``paths`` at ``rate`` per second; latencies (ms), errors, achieved throughput."""
    latencies = np.full(len(paths), np.nan)
    errors = 0
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=base, timeout=10, limits=limits) as client:

        async def one(i: int, path: str, at: float) -> None:
            nonlocal errors
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            start = time.perf_counter()
            try:
                response = await client.get(path)
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies[i] = (time.perf_counter() - start) * 1000
            errors += not ok

        t0 = time.perf_counter() + 0.2
        await asyncio.gather(*(one(i, p, t0 + i / rate) for i, p in enumerate(paths)))
        elapsed = time.perf_counter() - t0
    return latencies, errors, len(paths) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path)
    parser.add_argument("--run", type=Path, help="a run to export first (when no --bundle)")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    args = parser.parse_args()
    if args.bundle is None:
        if args.run is None:
            raise SystemExit("give --bundle BUNDLE or --run RUN_DIR")
        from fusionrec.serve.bundle import export_bundle

        args.bundle = export_bundle(args.run, Path(tempfile.mkdtemp()) / "bundle")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(args.bundle, port, args.workers)
    try:
        meta = httpx.get(f"{base}/metadata").json()
        users = httpx.get(f"{base}/users", params={"limit": 1000}).json()["user_ids"]
        items = sorted(
            {
                hit["item_id"]
                for user in users[:50]
                for hit in httpx.get(f"{base}/users/{user}/recommendations?k=100").json()["items"]
            }
        )
        rows, loads = [], []
        for name, rate, bar in SCENARIOS:
            load_before = os.getloadavg()[0]
            warm = urls(name, meta, users, items, max(20, int(rate)))
            asyncio.run(run_load(base, warm, rate))
            n = int(rate * args.seconds)
            ms, errors, throughput = asyncio.run(
                run_load(base, urls(name, meta, users, items, n), rate)
            )
            load_after = os.getloadavg()[0]
            loads += [load_before, load_after]
            p50, p99 = np.percentile(ms, 50), np.percentile(ms, 99)
            met = "-" if bar is None else ("yes" if p99 <= bar and errors == 0 else "**no**")
            rows.append(
                f"| {name} | {rate} | {n:,} | {throughput:.0f} | {p50:.1f} | {p99:.1f} | "
                f"{errors} | {'-' if bar is None else f'p99 <= {bar:.0f} ms'} | {met} | "
                f"{load_before:.1f} / {load_after:.1f} |"
            )
    finally:
        server.terminate()
        server.wait(timeout=30)
    table = [
        "| endpoint | offered req/s | requests | achieved req/s | p50 ms | p99 ms | errors "
        "| bar | met | load before / after |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|---|",
        *rows,
    ]
    cores = os.cpu_count() or 1
    env = ", ".join(f"{v}={os.environ.get(v, 'unset')}" for v in THREAD_ENV)
    busy = max(loads) > cores * 0.5
    text = (
        header("Serving: latency and throughput of the HTTP API")
        + f"\nBundle: {meta['model']} on {meta['dataset']} ({meta['n_items']:,} items, "
        f"indexes {sorted(set(meta['index'].values()))}). `fusionrec serve --workers "
        f"{args.workers}` ({args.workers} uvicorn worker process"
        f"{'es' if args.workers > 1 else ''}, {THREADS_PER_REQUEST} compute thread per request "
        f"for FAISS and torch, numpy's BLAS left alone; {env}) and this load generator share "
        f"the machine's {cores} cores; {args.seconds:g} s per endpoint after a warm-up, "
        "open loop.\n"
        "Load: the machine's 1-minute load average before and after each endpoint's run; "
        + (
            f"above {cores * 0.5:g} (half the cores) the machine was busy with other work, "
            "which inflates the tail.\n"
            if busy
            else "the machine was otherwise idle.\n"
        )
        + "\n"
        + "\n".join(table)
        + "\n"
    )
    write_result(RESULTS / "serving.md", text)
    print(text)


if __name__ == "__main__":
    main()
