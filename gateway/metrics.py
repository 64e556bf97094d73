"""Prometheus figures for GET /metrics, in a registry of our own (never the process-global one).

`Metered(engine, metrics)` wraps the shared Engine so that every door's decisions are counted (by outcome
and channel), signing latency is observed, and HSM errors are counted, without the doors knowing.
"""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from gateway.errors import SignerUnavailable
from gateway.model import Outcome, Result

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.decisions = Counter(
            "kyso_decisions",
            "Decisions made, by outcome and channel (dry runs excluded)",
            ("outcome", "channel"),
            registry=self.registry,
        )
        self.checks = Counter(
            "kyso_checks", "Dry-run checks, by outcome and channel", ("outcome", "channel"), registry=self.registry
        )
        self.signing_seconds = Histogram(
            "kyso_signing_seconds",
            "Time from submission to signed output, documents that were signed",
            ("channel",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.hsm_errors = Counter(
            "kyso_hsm_errors", "Signing device errors, by reason code", ("code",), registry=self.registry
        )
        self.failures = Counter(
            "kyso_failures", "Documents that got no decision (errors), by channel and reason code",
            ("channel", "code"), registry=self.registry,
        )

    def observe(self, result: Result, channel: str, seconds: float) -> None:
        if result.dry_run:
            self.checks.labels(str(result.outcome), channel).inc()
            return
        self.decisions.labels(str(result.outcome), channel).inc()
        if result.outcome is Outcome.SIGN:
            self.signing_seconds.labels(channel).observe(seconds)

    def observe_error(self, exc: BaseException, channel: str) -> None:
        code = getattr(exc, "code", "INTERNAL_ERROR")
        if isinstance(exc, SignerUnavailable):
            self.hsm_errors.labels(code).inc()
        self.failures.labels(channel, code).inc()

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class Metered:
    """The Engine, counted. Everything but submit() passes straight through."""

    def __init__(self, engine, metrics: Metrics) -> None:
        self._engine = engine
        self.metrics = metrics

    def __getattr__(self, name: str):
        return getattr(self._engine, name)

    async def submit(self, doc, dry_run: bool = False, out_dir=None) -> Result:
        started = time.perf_counter()
        try:
            result = await self._engine.submit(doc, dry_run=dry_run, out_dir=out_dir)
        except Exception as exc:
            self.metrics.observe_error(exc, str(doc.channel))
            raise
        self.metrics.observe(result, str(doc.channel), time.perf_counter() - started)
        return result
