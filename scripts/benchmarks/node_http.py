"""Inclusion proofs served over HTTP vs a trivial aiohttp handler, same client, same run.

Ours: ``GET /v1/proof/inclusion?index=I&tree_size=N`` from a ``vcledger-node
run`` process serving a ledger of 100,000 events (--quick: 2,000; built once
and cached in .bench/ by node_scale), for random leaves against the head.
Each answer is parsed as JSON by the client.

Baseline: a separate Python process running an aiohttp application whose one
handler returns a constant JSON object of the same shape and about the same
size (index, tree_size, leaf_hash, 20 hex hashes) without computing anything:
the cost of aiohttp itself, of the HTTP round trip and of the client.

Both are driven by the same aiohttp client in this process, with the same
number of requests and the same concurrency (16 in flight on one keep-alive
connection pool), alternating ours and the baseline, best of 3.  Target: ours
at least 0.4x the trivial handler's rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp

from benchmarks import Row, stop_process
from benchmarks.node_scale import CACHE, ROOT, free_port, healthy, ledger_of, run_node

NAME = "node_http"

FULL_EVENTS = 100_000
QUICK_EVENTS = 2_000
REQUESTS = 4_000
QUICK_REQUESTS = 400
CONCURRENCY = 16
TARGET = 0.4

_TRIVIAL_SERVER = """
import sys
from aiohttp import web

BODY = {"index": 12345, "tree_size": 100000, "leaf_hash": "ab" * 32,
        "proof": ["cd" * 32] * 17}

async def proof(request):
    return web.json_response(BODY)

async def healthz(request):
    return web.json_response({"status": "ok"})

app = web.Application()
app.router.add_get("/v1/proof/inclusion", proof)
app.router.add_get("/healthz", healthz)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


@contextlib.contextmanager
def _trivial_server(log: Path) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("ab") as output:
        process = subprocess.Popen([sys.executable, "-c", _TRIVIAL_SERVER, str(port)],
                                   stdout=output, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while not healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the trivial aiohttp server did not start; see {log}")
            time.sleep(0.01)
        yield url
    finally:
        stop_process(process, grace=10)


async def _drive(url: str, paths: list[str]) -> float:
    """Seconds to GET every path with CONCURRENCY requests in flight, each answer parsed."""
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        slots = asyncio.Semaphore(CONCURRENCY)

        async def get(path: str) -> None:
            async with slots, session.get(url + path) as response:
                assert response.status == 200, (path, response.status)
                await response.json()

        await asyncio.gather(*(get(p) for p in paths[:CONCURRENCY * 4]))  # connections up
        started = time.perf_counter()
        await asyncio.gather(*(get(p) for p in paths))
        return time.perf_counter() - started


def run(quick: bool) -> list[Row]:
    events = QUICK_EVENTS if quick else FULL_EVENTS
    count = QUICK_REQUESTS if quick else REQUESTS
    CACHE.mkdir(exist_ok=True)
    log = CACHE / "node_http.log"
    network = ledger_of(events)
    with run_node(network, log) as node, _trivial_server(log) as trivial:
        tree_size = asyncio.run(_tree_size(node.url))
        rng = random.Random(events)
        ours_best = theirs_best = float("inf")
        for _ in range(3):
            paths = [f"/v1/proof/inclusion?index={rng.randrange(tree_size)}"
                     f"&tree_size={tree_size}" for _ in range(count)]
            ours_best = min(ours_best, asyncio.run(_drive(node.url, paths)))
            theirs_best = min(theirs_best, asyncio.run(_drive(trivial, paths)))
    return [Row(
        benchmark=(f"HTTP inclusion proofs, {tree_size}-leaf log, {count} requests, "
                   f"{CONCURRENCY} in flight"),
        ours=ours_best,
        baseline_name="trivial aiohttp JSON handler",
        baseline=theirs_best,
        target=TARGET,
    )]


async def _tree_size(url: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(url + "/healthz") as response:
        tree_size: int = (await response.json())["tree_size"]
        return tree_size
