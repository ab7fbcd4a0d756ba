"""Progress of the Beam jobs while they run, and their final counters.

Each worker process keeps one `Progress` per job: the job's DoFns add to its counts (read, tagged,
rejected, duplicates for the tag job; read, tokenised, selected, routed, shards for the mix job) and every
`every` seconds it logs one line with the process's own counts since it started, at INFO on the
`mixcurate.progress` logger, which writes to the process's stderr (local Beam workers inherit the
terminal's). The same counts go to Beam metrics counters, so the driver can print the job's totals
from `PipelineResult.metrics()` at the end (`final_line`).
"""
from __future__ import annotations

import logging
import os
import sys
import time

from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter

DEFAULT_EVERY_S = 10.0
LOGGER = logging.getLogger("mixcurate.progress")

_TRACKERS: dict = {}


def _logger() -> logging.Logger:
    """Our own handler, not propagated: Beam sets its workers' root logger to WARNING."""
    if not LOGGER.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        LOGGER.addHandler(handler)
        LOGGER.setLevel(logging.INFO)
        LOGGER.propagate = False
    return LOGGER


def _fmt_duration(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m{s % 60:02d}s" if s >= 3600 else \
        f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


class Progress:
    """Counts of one job in one process; logs them every `every` seconds (0 or less: never)."""

    def __init__(self, job: str, names: tuple, every: float = DEFAULT_EVERY_S,
                 clock=time.monotonic, emit=None):
        self.job, self.names, self.every, self.clock = job, tuple(names), float(every), clock
        self.emit = emit or (lambda line: _logger().info(line))
        self.counts = {name: 0 for name in self.names}
        self.started = self.last = clock()
        self._metrics: dict = {}

    def add(self, name: str, n: int = 1) -> None:
        if not n:
            return
        self.counts[name] = self.counts.get(name, 0) + n
        counter = self._metrics.get(name)
        if counter is None:
            counter = self._metrics[name] = Metrics.counter(self.job, name)
        counter.inc(n)
        if self.every > 0:
            now = self.clock()
            if now - self.last >= self.every:
                self.last = now
                self.emit(self.line(now))

    def line(self, now: float | None = None) -> str:
        elapsed = (self.clock() if now is None else now) - self.started
        counts = " | ".join(f"{name} {self.counts.get(name, 0):,}" for name in self.names)
        return f"{self.job} progress [worker pid {os.getpid()}, {_fmt_duration(elapsed)}]: {counts}"


def tracker(job: str, names: tuple, every: float = DEFAULT_EVERY_S) -> Progress:
    """The Progress of `job` in this process, shared by all its DoFn instances."""
    key = (job, tuple(names))
    found = _TRACKERS.get(key)
    if found is None or found.every != float(every):
        found = _TRACKERS[key] = Progress(job, names, every)
    return found


def totals(result, job: str) -> dict:
    """The job's counters summed over every worker, from a finished pipeline's metrics."""
    out: dict = {}
    for c in result.metrics().query(MetricsFilter().with_namespace(job))["counters"]:
        value = c.committed if c.committed is not None else c.attempted
        out[c.key.metric.name] = out.get(c.key.metric.name, 0) + (value or 0)
    return out


def final_line(result, job: str, names: tuple) -> str:
    counts = totals(result, job)
    return f"{job} counters: " + ", ".join(f"{name} {counts.get(name, 0):,}" for name in names)
