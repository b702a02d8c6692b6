"""Benchmarks run by scripts/bench.py: one module per benchmark.

Each module defines ``NAME`` (what ``--only`` selects) and
``run(quick: bool) -> list[Row]``.  ``quick`` asks for small sizes that finish
in about a second (the smoke test uses it); the full run uses the sizes the
targets are stated for.  A row compares our figure with a baseline measured
in the same run, on the same machine, so the ratio means something even on a
busy or slow host.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

# The headline targets (issue 14), each answered by the row whose ``goal`` it is.  The
# signature-bound ones are stated against libsodium's Ed25519 verify rate measured in the
# same run (benchmarks/signatures.py), whose two rows lead the table as the baselines.
LIMIT_1 = "the limit: libsodium Ed25519 verify, 1 process"
LIMIT_2 = "the limit: libsodium Ed25519 verify, 2 processes"
GOAL_INGEST = "durable single-node ingest of signed events, batches of 1,000, 2 cores"
GOAL_BUNDLES_1 = "offline bundle verification, 1 validator"
GOAL_BUNDLES_4 = "offline bundle verification, 4 validators"
GOAL_LOCALNET = "4-node localnet committed events/s"
GOAL_LATENCY_P99 = "commit latency p99 at half the measured maximum load, 4-node localnet"
GOAL_LATENCY_P50 = "commit latency p50 at half the measured maximum load, 4-node localnet"
GOAL_PROOFS = "inclusion proofs from a 1M-leaf log vs pymerkle SqliteTree, worst run"
GOALS = (LIMIT_1, LIMIT_2, GOAL_INGEST, GOAL_BUNDLES_1, GOAL_BUNDLES_4, GOAL_LOCALNET,
         GOAL_LATENCY_P99, GOAL_LATENCY_P50, GOAL_PROOFS)


@dataclass(frozen=True)
class Row:
    """One line of the benchmark table.

    ``ours`` and ``baseline`` are seconds (best of k runs); ``speedup`` is
    ``baseline / ours``, so above 1 means we are faster.  ``target`` is the
    speedup a row must reach to pass; rows without one are informational.
    ``baseline`` is None when the baseline could not run, with ``note``
    saying why (e.g. a package that is not installed).

    A row that processed ``count`` items (``unit``: events, bundles,
    signatures) shows both sides as rates, ``count / seconds``: the speedup is
    then our rate over the baseline's.  ``goal`` names the headline target
    (issue 14's table) the row answers, if any; bench.py sums those up.
    """

    benchmark: str
    ours: float
    baseline_name: str
    baseline: float | None
    target: float | None = None
    note: str = ""
    count: int | None = None
    unit: str = ""
    goal: str = ""
    quantity: str = ""
    """Set (e.g. ``MB``) when ``ours`` and ``baseline`` are amounts of that, not seconds."""

    @property
    def speedup(self) -> float | None:
        if self.baseline is None:
            return None
        return self.baseline / self.ours

    @property
    def result(self) -> str:
        """``pass``, ``FAIL``, ``info`` (no target) or the note (baseline missing)."""
        speedup = self.speedup
        if speedup is None:
            return self.note or "n/a"
        if self.target is None:
            return "info"
        return "pass" if speedup >= self.target else "FAIL"

    def as_json(self) -> dict[str, object]:
        return {
            "benchmark": self.benchmark,
            "ours_seconds": self.ours,
            "baseline_name": self.baseline_name,
            "baseline_seconds": self.baseline,
            "speedup": self.speedup,
            "target_speedup": self.target,
            "result": self.result,
            "note": self.note,
            "count": self.count,
            "unit": self.unit,
            "goal": self.goal,
            "quantity": self.quantity,
        }


def best_of_interleaved(
    k: int, ours: Callable[[], object], baseline: Callable[[], object]
) -> tuple[float, float]:
    """Best of ``k`` runs of each, alternating ours and the baseline.

    Alternating means a burst of load from other processes (the machine is
    shared) slows both sides rather than only whichever ran during it, so the
    ratio stays honest.
    """
    assert k >= 1
    best_ours = best_baseline = float("inf")
    for _ in range(k):
        best_ours = min(best_ours, best_of(1, ours))
        best_baseline = min(best_baseline, best_of(1, baseline))
    return best_ours, best_baseline


def best_of(k: int, function: Callable[[], object]) -> float:
    """Shortest of ``k`` timed calls of ``function``, in seconds.

    The minimum, not the mean: noise from other processes only ever adds
    time, so the fastest run is the best estimate of the code's own cost.
    """
    assert k >= 1
    best = float("inf")
    for _ in range(k):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def stop_process(process: subprocess.Popen[bytes], grace: float = 30.0) -> None:
    """SIGTERM ``process`` (a node stops cleanly on it); SIGKILL it after ``grace`` seconds."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
