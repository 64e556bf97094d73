"""Prometheus figures for GET /metrics, in a registry of our own (never the process-global one).

What an operator alerts on (issue 16 §7; docs/operations.md has example rules):
- `kyso_hsm_up` — the signing device answered the last health check (every HEALTH_SECONDS, in a worker);
- `kyso_org_certificate_expiry_seconds` — seconds until the organisation certificate expires (negative once
  expired; computed at each scrape), `kyso_org_certificate_usable` — it passed the pre-sign check;
- `kyso_decision_log_up` — the decision log is writable;
- `kyso_folder_backlog{watch}` — files waiting in a watched folder's inbox or taken and not finished,
  `kyso_folder_held{watch}` — of those, files held for a temporary reason (a NAME.dang-cho.txt note shows);
- `kyso_refusals_total{reason,channel}` — documents refused or blocked, by reason code;
- `kyso_decisions_total{outcome,channel}` — decisions by door (channel smtp, folder, portal = the HTTP hook,
  and cli), plus the signing latency histogram, HSM errors and failures without a decision.

`Metered(engine, metrics)` wraps the shared Engine so that every door's decisions are counted without the
doors knowing; `Metrics.refresh_forever(engine)` keeps the health figures current (gateway run starts it).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from datetime import datetime

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from gateway.errors import PermanentError, SignerUnavailable
from gateway.model import Outcome, Result

log = logging.getLogger("gateway.metrics")

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0)
HEALTH_SECONDS = 30.0


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.decisions = Counter(
            "kyso_decisions",
            "Decisions made, by outcome and door (channel: smtp, folder, portal = the HTTP hook, cli); dry runs excluded",
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
        self.refusals = Counter(
            "kyso_refusals", "Documents refused (REJECT) or blocked (BLOCK), by reason code and channel",
            ("reason", "channel"), registry=self.registry,
        )
        self.hsm_up = Gauge(
            "kyso_hsm_up", "1 when the signing device answered the last health check, else 0", registry=self.registry
        )
        self.log_up = Gauge(
            "kyso_decision_log_up", "1 when the decision log was writable at the last health check, else 0",
            registry=self.registry,
        )
        self.cert_usable = Gauge(
            "kyso_org_certificate_usable",
            "1 when the organisation certificate passed the pre-sign check (validity, chain, revocation), else 0",
            registry=self.registry,
        )
        self.cert_not_after = Gauge(
            "kyso_org_certificate_not_after_timestamp_seconds",
            "When the organisation certificate expires (Unix time); NaN until the token was read",
            registry=self.registry,
        )
        self.cert_not_after.set(math.nan)
        self.cert_expiry = Gauge(
            "kyso_org_certificate_expiry_seconds",
            "Seconds until the organisation certificate expires (negative: expired); NaN until the token was read",
            registry=self.registry,
        )
        self.cert_expiry.set_function(self._seconds_to_expiry)
        self.health_time = Gauge(
            "kyso_health_check_timestamp_seconds", "When the health figures were last refreshed (Unix time)",
            registry=self.registry,
        )
        self._not_after: float | None = None
        self._backlogs: list = []
        self.registry.register(_FolderBacklog(self))

    # --- counted as documents go by -------------------------------------------------------------------

    def observe(self, result: Result, channel: str, seconds: float) -> None:
        if result.dry_run:
            self.checks.labels(str(result.outcome), channel).inc()
            return
        self.decisions.labels(str(result.outcome), channel).inc()
        if result.outcome is Outcome.SIGN:
            self.signing_seconds.labels(channel).observe(seconds)
        elif result.outcome in (Outcome.REJECT, Outcome.BLOCK):
            for code in dict.fromkeys(r.code for r in result.decision.reasons):
                self.refusals.labels(code, channel).inc()

    def observe_error(self, exc: BaseException, channel: str) -> None:
        code = getattr(exc, "code", "INTERNAL_ERROR")
        if isinstance(exc, SignerUnavailable):
            self.hsm_errors.labels(code).inc()
        if isinstance(exc, PermanentError):  # refused before a decision (broken input, a limit): a refusal too
            self.refusals.labels(code, channel).inc()
        self.failures.labels(channel, code).inc()

    # --- health, refreshed in the background ------------------------------------------------------------

    def observe_health(self, health: dict) -> None:
        """From Engine.health(): HSM answered, decision log writable, the certificate and its check."""
        hsm = health.get("hsm") or {}
        # The token answered even when the certificate on it is refused (expired, revoked): that is its own figure.
        answered = health.get("hsm_ok") or str(hsm.get("code") or "").startswith("ORG_CERT_")
        self.hsm_up.set(1 if answered else 0)
        self.log_up.set(1 if health.get("log_ok") else 0)
        cert = hsm.get("certificate") or {}
        if cert.get("not_after"):
            try:
                self._not_after = datetime.fromisoformat(cert["not_after"]).timestamp()
                self.cert_not_after.set(self._not_after)
            except ValueError:
                pass
        # health() reads the certificate before checking it: a certificate there but refused is not usable
        self.cert_usable.set(1 if hsm.get("ok") else 0)
        self.health_time.set(time.time())

    def _seconds_to_expiry(self) -> float:
        return math.nan if self._not_after is None else self._not_after - time.time()

    async def refresh_forever(self, engine, every: float = HEALTH_SECONDS) -> None:
        """Ask the engine (a signing worker) how the HSM, the certificate and the log are, now and every `every`."""
        while True:
            try:
                self.observe_health(await asyncio.to_thread(engine.health))
            except Exception as exc:  # noqa: BLE001 - the figures say "down", the loop goes on
                log.warning("health check for /metrics failed: %s", type(exc).__name__)
                self.hsm_up.set(0)
            await asyncio.sleep(every)

    def watch_folders(self, backlog) -> None:
        """`backlog()` -> [(watch name, files waiting, of those held)]: the folder door's, counted at each scrape."""
        self._backlogs.append(backlog)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _FolderBacklog:
    """Counted at each scrape from the folders themselves: what waits is what is there."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def describe(self):
        return []

    def collect(self):
        backlog = GaugeMetricFamily("kyso_folder_backlog", "Files waiting in a watched folder: in the inbox, or "
                                    "taken and not finished (in progress or held)", labels=("watch",))
        held = GaugeMetricFamily("kyso_folder_held", "Files held for a temporary reason (a NAME.dang-cho.txt note "
                                 "in the inbox says why)", labels=("watch",))
        for provider in self.metrics._backlogs:
            try:
                rows = list(provider())
            except Exception as exc:  # noqa: BLE001 - a scrape answers; the figure is missing, the log says why
                log.warning("folder backlog not counted: %s", type(exc).__name__)
                continue
            for name, waiting, on_hold in rows:
                backlog.add_metric([name], waiting)
                held.add_metric([name], on_hold)
        yield backlog
        yield held


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
