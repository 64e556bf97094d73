"""The portal hook as an ASGI app (Starlette): routes, authentication, the one catch-all.

Handlers stay thin: spool the upload, hand a Document to the shared Engine, turn the Result into an answer
through gateway.publish.problems. Nothing here signs, decides or records by itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import asdict, is_dataclass
from enum import Enum
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from gateway.errors import TemporaryError
from gateway.model import Channel, Document, Origin, Outcome, Reason, Result
from gateway.publish import openapi, problems
from gateway.publish.auth import OPERATOR, Authenticator
from gateway.metrics import Metered, Metrics
from gateway.publish.uploads import Spool, Upload, remove

log = logging.getLogger("gateway.publish")

PUBLIC_PATHS = frozenset({"/healthz"})
HEALTH_CACHE_SECONDS = 2.0
CLIENT_KEY = "kyso.client"  # where the authenticated client's name travels in the ASGI scope
ROLE_KEY = "kyso.role"  # and its role ("client" / "operator"); absent on an anonymous /healthz


class CatchAll:
    """Outermost: any exception becomes its problem+json answer (unexpected ones a 503, never a 500)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def tracking_send(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:  # too late to change the answer; the client sees a cut connection
                log.error("error after the response started", exc_info=exc)
                return
            await problems.for_exception(exc)(scope, receive, send)


class Authenticate:
    """Bearer token on everything but /healthz, before any body is read. /healthz answers anyone (up or
    down only); a token presented there must still be valid, and an operator's gets the detail."""

    def __init__(self, app, authenticator: Authenticator) -> None:
        self.app = app
        self.auth = authenticator

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            header = None
            for key, value in scope["headers"]:
                if key == b"authorization":
                    header = value.decode("latin-1")
                    break
            if scope["path"] not in PUBLIC_PATHS or header is not None:
                client = self.auth.identify(header)  # raises -> 401 via CatchAll
                scope[CLIENT_KEY], scope[ROLE_KEY] = client.name, client.role
        await self.app(scope, receive, send)


class SpooledFileResponse(FileResponse):
    """A file answer that deletes the spooled upload and the output once sent (or once the client left)."""

    def __init__(self, path: Path, *, cleanup: tuple[Path, ...], **kwargs) -> None:
        super().__init__(path, **kwargs)
        self.cleanup = cleanup

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await asyncio.to_thread(_remove_all, self.cleanup)


def _remove_all(paths) -> None:
    for p in paths:
        if p is not None:
            remove(p)


def _jsonable(value):
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


class PortalHook:
    def __init__(self, settings, engine, metrics: Metrics, authenticator: Authenticator) -> None:
        self.settings = settings
        self.engine = engine if isinstance(engine, Metered) else Metered(engine, metrics)
        self.metrics = metrics
        self.auth = authenticator
        self.spool = Spool.from_settings(settings)
        self._audit = None
        self._health: tuple[float, dict] | None = None  # (monotonic time, checks): anonymous callers share it
        self._health_lock: asyncio.Lock | None = None

    # --- documents --------------------------------------------------------------------------------

    async def _decide(self, request: Request, *, dry_run: bool) -> tuple[Upload, Result, Path | None]:
        upload = await self.spool.receive(request)
        out_dir = None
        try:
            out_dir = None if dry_run else await asyncio.to_thread(self.spool.out_dir)
            extra = {"kind": upload.declared.kind} if upload.declared.kind else {}
            doc = Document(
                channel=Channel.PORTAL,
                name=upload.name,
                path=upload.path,
                media_type=upload.media_type,
                origin=Origin(client=request.scope.get(CLIENT_KEY)),
                declared=upload.declared,
                **extra,
            )
            result = await self.engine.submit(doc, dry_run=dry_run, out_dir=out_dir)
        except BaseException:
            await asyncio.to_thread(_remove_all, (upload.path, out_dir))
            raise
        return upload, result, out_dir

    async def sign(self, request: Request) -> Response:
        upload, result, out_dir = await self._decide(request, dry_run=False)
        cleanup = (upload.path, out_dir)
        headers = problems.result_headers(result)
        if result.outcome is Outcome.SIGN and result.output is not None:
            out = result.output
            name = upload.name + ".p7s" if out.detached else upload.name
            headers["X-Kyso-Sha256"] = out.sha256
            return SpooledFileResponse(
                out.path, cleanup=cleanup, media_type=out.media_type, filename=name, headers=headers
            )
        if result.outcome is Outcome.PASS:
            return SpooledFileResponse(
                upload.path,
                cleanup=cleanup,
                media_type=upload.media_type or "application/octet-stream",
                filename=upload.name,
                headers=headers,
            )
        await asyncio.to_thread(_remove_all, cleanup)  # BLOCK: the content is not kept
        if result.outcome in (Outcome.REJECT, Outcome.BLOCK):
            return problems.refusal(result)
        # SIGN without output: never release unsigned what should be signed.
        raise TemporaryError("SIGN result without signed output", code="INTERNAL_ERROR")

    async def check(self, request: Request) -> Response:
        upload, result, _ = await self._decide(request, dry_run=True)
        await asyncio.to_thread(remove, upload.path)
        return JSONResponse(problems.decision_json(result), headers=problems.result_headers(result))

    # --- records, health, metrics -----------------------------------------------------------------

    def _audit_log(self):
        """The Engine's decision log connection (shared, thread-safe), else one of our own for reading."""
        if self._audit is None:
            self._audit = getattr(self.engine, "audit", None)
        if self._audit is None:
            from gateway.audit import AuditLog

            self._audit = AuditLog.open(self.settings)
        return self._audit

    async def decision(self, request: Request) -> Response:
        """One decision record. A client sees only the decisions it caused (portal records naming it); an
        operator sees any. Anything else is "not found", exactly as a record that does not exist: the answer
        says nothing about other clients' or other doors' documents (senders, names of blocked secrets)."""
        ident = request.path_params["id"]
        record = None
        if ident.isascii() and ident.isdigit() and len(ident) < 19:  # "¹" and "٣" are digits to str.isdigit
            record = await asyncio.to_thread(self._audit_log().get, int(ident))
        if record is None or not _visible(record, request.scope.get(CLIENT_KEY), request.scope.get(ROLE_KEY)):
            raise problems.NotFound("no such decision record", id=ident[:64])
        return JSONResponse(record.as_dict())

    async def healthz(self, request: Request) -> Response:
        """HSM reachable and decision log writable (Engine.health asks a worker; it blocks, so a thread).
        Anyone: up or down, nothing more (no certificate, no token label, no paths). An operator's token: the
        checks in detail."""
        operator = request.scope.get(ROLE_KEY) == OPERATOR
        health = await self._checks(fresh=operator)
        if not operator:
            if health.get("ok"):
                return JSONResponse({"status": "up"})
            return JSONResponse({"status": "down"}, status_code=503,
                                headers={"Retry-After": str(problems.RETRY_AFTER_DEFAULT)})
        if health.get("ok"):
            return JSONResponse({"status": "ok", "checks": health})
        reasons = []
        if not health.get("hsm_ok", True) or "error" in health:
            reasons.append(Reason.of("TOKEN_UNAVAILABLE"))
        if not health.get("log_ok", True):
            reasons.append(Reason.of("AUDIT_UNAVAILABLE"))
        return problems.problem(
            503,
            reasons or [Reason.of("TEMPORARY_FAILURE")],
            headers={"Retry-After": str(problems.RETRY_AFTER_DEFAULT)},
            checks=health,
        )

    async def _checks(self, *, fresh: bool) -> dict:
        """Engine.health asks a signing worker: an anonymous caller polling /healthz must not take the workers
        from documents, so an "up" is reused for HEALTH_CACHE_SECONDS and one check runs at a time."""
        if self._health_lock is None:
            self._health_lock = asyncio.Lock()
        async with self._health_lock:
            now = time.monotonic()
            if not fresh and self._health is not None and now - self._health[0] < HEALTH_CACHE_SECONDS:
                # the token's "up" is reused; the decision log is asked every time (a stat): a log moved away
                # a moment ago is "down" now, not in two seconds (issue 15 §3)
                if await asyncio.to_thread(self.engine.log_health):
                    return self._health[1]
                self._health = None  # asked afresh below: the answer says what is down
            try:
                health = await asyncio.to_thread(self.engine.health)
            except Exception as exc:
                log.warning("health check failed: %s", type(exc).__name__)
                health = {"ok": False, "error": getattr(exc, "code", type(exc).__name__)}
            health = _jsonable(health)
            # Only "up" is reused: a "down" is asked again next time, so recovery shows at once.
            self._health = (time.monotonic(), health) if health.get("ok") else None
            return health

    async def metrics_endpoint(self, request: Request) -> Response:
        data, ctype = self.metrics.render()
        return Response(data, media_type=ctype)

    async def openapi_endpoint(self, request: Request) -> Response:
        return JSONResponse(openapi.document())


def _visible(record, client: str | None, role: str | None) -> bool:
    if role == OPERATOR:
        return True
    origin = (record.data or {}).get("origin") or {}
    return (client is not None and record.kind == "decision" and record.channel == Channel.PORTAL.value
            and origin.get("client") == client)


async def _http_exception(request: Request, exc: HTTPException) -> Response:
    """Router answers (404 no route, 405 wrong method) as problem+json too."""
    if exc.status_code == 404:
        return problems.for_exception(problems.NotFound("no such endpoint", id=request.url.path[:64]))
    return problems.problem(
        exc.status_code,
        [Reason.of("BAD_REQUEST", detail=str(exc.detail))],
        headers=dict(exc.headers or {}),
    )


def create_app(settings, engine, *, metrics: Metrics | None = None, authenticator: Authenticator | None = None):
    """The ASGI app for the portal hook. `engine` is the shared Engine (or already Metered)."""
    metrics = metrics or getattr(engine, "metrics", None) or Metrics()
    authenticator = authenticator or Authenticator.from_settings(settings)
    hook = PortalHook(settings, engine, metrics, authenticator)
    hook.spool.prepare()
    routes = [
        Route("/v1/documents:sign", hook.sign, methods=["POST"]),
        Route("/v1/documents:check", hook.check, methods=["POST"]),
        Route("/v1/decisions/{id}", hook.decision, methods=["GET"]),
        Route("/healthz", hook.healthz, methods=["GET"]),
        Route("/metrics", hook.metrics_endpoint, methods=["GET"]),
        Route("/openapi.json", hook.openapi_endpoint, methods=["GET"]),
    ]
    # User middleware sits inside Starlette's ServerErrorMiddleware (which would answer 500): CatchAll maps
    # every exception before it gets there.
    app = Starlette(
        routes=routes,
        middleware=[Middleware(CatchAll), Middleware(Authenticate, authenticator=authenticator)],
        exception_handlers={HTTPException: _http_exception},
    )
    app.state.hook = hook
    return app
