"""`gateway run`: every enabled door in one process, one asyncio loop, ONE shared Engine.

Start: logging (human or JSON per settings.log_format), the start-up checks (gateway.preflight: folders
writable, ports free, token, key, certificate and trust files usable — any problem stops the start with exit 2
naming every cause), the Engine (signing workers, one HSM session each), then each door (SMTP, folders, HTTP);
only then a banner for people says what listens where. Stop (SIGTERM / SIGINT):
doors stop accepting and finish the documents in flight (within a grace period), the Engine closes, exit 0.
A second signal shortens the grace to one second. Never logged: PINs, tokens, document content.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
import threading
from typing import Callable, Iterable

from gateway import __version__
from gateway.doors import DOORS
from gateway.errors import ConfigError
from gateway.model import Reason
from gateway.logs import JsonFormatter, setup_logging  # noqa: F401  (re-exported for the doors)

log = logging.getLogger("gateway.runtime")

GRACE_SECONDS = 30.0


# --- banner -----------------------------------------------------------------------------------------


def banner(settings, door_lines: Iterable[str]) -> list[str]:
    """What people see at start, Vietnamese first. Names where the dev HTTP token is, never the token."""
    lines = [
        f"Cổng ký số Kyso {__version__} đang chạy / Kyso Gateway {__version__} running",
        f"  Cơ quan / organisation: {settings.organisation}",
        f"  Thiết bị ký số / signing token: {settings.token.token_label} "
        f"(khóa / key {settings.token.key_label}; PKCS#11 {settings.token.module})",
        f"  Chính sách / policies: {_policies(settings)}",
        f"  Nhật ký quyết định / decision log: {settings.audit.path if settings.audit.backend == 'sqlite' else 'postgresql'}",
    ]
    lines += [f"  {line}" for line in door_lines]
    token_file = settings.paths.http_dev_token
    if settings.http.enabled and token_file.exists():
        lines.append(f"  Mã truy cập HTTP (dev) trong tệp / dev HTTP bearer token in file: {token_file}")
    lines.append("  Dừng: Ctrl+C hoặc SIGTERM / stop: Ctrl+C or SIGTERM")
    return lines


def _policies(settings) -> str:
    try:
        from gateway.policy import load_policies

        return ", ".join(f"{p.id} {p.version}" for p in load_policies(settings.policy.dir).policies)
    except Exception as exc:  # the banner must not hide a start; the Engine reports real policy errors
        return f"? ({type(exc).__name__})"


def say_banner(settings, lines: list[str]) -> None:
    if settings.log_format == "json":
        for line in lines:
            log.info(line.strip(), extra={"banner": True})
    else:
        print("\n".join(lines), flush=True)


# --- running ----------------------------------------------------------------------------------------


def build_doors(settings, engine, only: set[str] | None) -> list[tuple[str, object]]:
    doors = []
    for spec in DOORS:
        name, module_name = spec.name, spec.module
        if only is not None and name not in only:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            if only is not None:
                raise ConfigError(f"door {name!r} is not part of this build", detail=f"door {name}") from None
            log.warning("door %s is not part of this build; skipped", name)
            continue
        door = module.build(settings, engine)
        if door is not None:
            doors.append((name, door))
        elif only is not None:
            log.warning("door %s is disabled in the configuration", name)
    return doors


def _open_engine(settings):
    from gateway.engine import Engine

    engine = Engine(settings)
    engine.start_checkpoints()  # the decision log's head, signed periodically and at close (issue 15)
    return engine


def _close_engine(engine) -> None:
    engine.close()  # waits for the workers to finish what they hold


async def serve(
    settings,
    only: set[str] | None = None,
    *,
    grace: float = GRACE_SECONDS,
    on_ready: Callable[[list[str]], None] | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Run until SIGTERM/SIGINT, or until `stop` is set; returns the exit code (0 after a clean stop). Run on a
    thread other than the main one (a program that embeds the gateway, e.g. a test sharing its process's
    readings), signals belong to that program: only `stop` ends the run."""
    from gateway import preflight
    from gateway.metrics import Metered, Metrics

    names = preflight.enabled_doors(settings, only)
    if not names:
        raise ConfigError("no door is enabled (smtp, folder, http)", detail="doors")
    # Never "running" while signing cannot work: everything checkable is checked before anything starts.
    await asyncio.to_thread(preflight.ensure, settings, names)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event() if stop is None else stop
    signals_seen: list[int] = []
    # only the main thread may take signals (set_wakeup_fd)
    handle_signals = threading.current_thread() is threading.main_thread()

    def on_signal(sig: int) -> None:
        signals_seen.append(sig)
        log.info("tín hiệu %s: đang dừng / signal %s: stopping", signal.Signals(sig).name, signal.Signals(sig).name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT) if handle_signals else ():
        loop.add_signal_handler(sig, on_signal, sig)

    engine = await asyncio.to_thread(_open_engine, settings)
    started: list[tuple[str, object]] = []
    refresher: asyncio.Task | None = None
    try:
        metrics = Metrics()
        metered = Metered(engine, metrics)  # one set of figures for every door
        doors = build_doors(settings, metered, only)
        if not doors:
            raise ConfigError("no door is enabled (smtp, folder, http)", detail="doors")
        for _, door in doors:
            if hasattr(door, "backlog"):  # the folder door: its backlog is a figure operators alert on
                metrics.watch_folders(door.backlog)
        refresher = asyncio.create_task(metrics.refresh_forever(engine), name="kyso-metrics-health")
        lines: list[str] = []
        for name, door in doors:
            try:
                lines += await door.start()
            except OSError as exc:  # a port taken between the check and now
                raise preflight.StartupError([preflight.bind_error(name, exc)]) from None
            except ConfigError as exc:
                raise _named(name, exc) from None
            started.append((name, door))
        text = banner(settings, lines)
        say_banner(settings, text)
        if on_ready is not None:
            on_ready(text)
        await stop.wait()
    finally:
        if refresher is not None:
            refresher.cancel()
        # Stop accepting everywhere at once; each door finishes its in-flight documents within the grace.
        effective = 1.0 if len(signals_seen) > 1 else grace
        results = await asyncio.gather(
            *(door.stop(effective) for _, door in reversed(started)), return_exceptions=True
        )
        for (name, _), res in zip(reversed(started), results):
            if isinstance(res, BaseException):
                log.error("door %s did not stop cleanly: %s", name, type(res).__name__)
        await asyncio.to_thread(_close_engine, engine)
        for sig in (signal.SIGTERM, signal.SIGINT) if handle_signals else ():
            loop.remove_signal_handler(sig)
    log.info("đã dừng / stopped")
    return 0


def _named(door: str, exc: ConfigError) -> ConfigError:
    """The HTTP door reports a busy port as ConfigError("HTTP: cannot listen on host:port: ..."): name it."""
    text = str(exc)
    if "cannot listen on" in text:
        address, _, detail = text.split("cannot listen on", 1)[1].strip().partition(": ")
        from gateway.preflight import StartupError

        code = "STARTUP_PORT_IN_USE" if "in use" in detail.lower() else "STARTUP_PORT_UNAVAILABLE"
        return StartupError([Reason.of(code, door=door.upper(), address=address, key=f"{door}.port", detail=detail)])
    return exc


def run(settings, only: set[str] | None = None) -> int:
    setup_logging(settings)
    return asyncio.run(serve(settings, only))
