"""Logging set-up shared by `gateway run`, the command line and the signing worker processes.

`gateway run` (a service): human or JSON lines on stderr (journald), times in Vietnam time (+07:00).
The command line: its own output is what people read; log records (library warnings, tracebacks from pyHanko,
pypdf, certvalidator) go to `<var_dir>/log/cli.log`, and to stderr only with -v (-vv: with tracebacks), so
they never mix with progress lines.

Never logged anywhere: PINs, tokens, keys, document content (only ids, names, codes).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from gateway.model import VN_TZ


# Libraries whose INFO lines are not news for an operator: shown at DEBUG only. aiosmtpd's "mail.log" says
# every SMTP command, and "connection lost" for every client that hangs up.
NOISY = ("uvicorn.access", "watchdog", "asyncio", "pyhanko", "pyhanko_certvalidator", "urllib3", "httpx",
         "mail.log", "pypdf", "fontTools")
LIBRARIES = ("pyhanko", "pyhanko_certvalidator", "pypdf", "fontTools", "PIL", "matplotlib", "urllib3", "httpx",
             "asyncio", "mail.log", "watchdog", "uvicorn", "py.warnings")


def vn_time(created: float) -> str:
    """A log record's time as people read it: ISO 8601 in Vietnam time, milliseconds."""
    return datetime.fromtimestamp(created, VN_TZ).isoformat(timespec="milliseconds")


class HumanFormatter(logging.Formatter):
    """`2026-12-03T15:16:51.123+07:00 WARNING gateway.x: message` (+ traceback when `tracebacks`)."""

    def __init__(self, tracebacks: bool = True) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        text = f"{vn_time(record.created)} {record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info and record.exc_info[0] is not None:
            if self.tracebacks:
                text += "\n" + self.formatException(record.exc_info)
            else:
                text += f" ({record.exc_info[0].__name__}; -vv cho chi tiết / for details)"
        return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (+07:00), level, logger, message (+ exception type, never locals)."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": vn_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[0] is not None:
            out["exception"] = record.exc_info[0].__name__
            out["traceback"] = self.formatException(record.exc_info)
        for key in ("banner", "door"):
            if hasattr(record, key):
                out[key] = getattr(record, key)
        return json.dumps(out, ensure_ascii=False)


def _quiet_noisy(level: int) -> None:
    """At INFO and above the noisy libraries say only WARNING and up; at DEBUG everything."""
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.NOTSET if level <= logging.DEBUG else logging.WARNING)
    if level > logging.DEBUG:
        # pypdf warns of every leniency in an odd file; the gateway's own reasons say what matters (and the
        # output check would otherwise set and reset this level for every document)
        logging.getLogger("pypdf").setLevel(logging.ERROR)
    quiet_libraries()


def setup_logging(settings, stream=None) -> None:
    """`gateway run` and its workers: one handler on stderr, the configured format and level."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else HumanFormatter())
    from gateway.logthrottle import install

    install(handler)  # repeated lines rate-limited: a flood must not fill the disk with the log (issue 15)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        if getattr(old, _CLI_MARK, False):
            old.close()  # the command line's log file, opened before `gateway run` took over
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    _quiet_noisy(root.level)
    logging.captureWarnings(True)  # Python warnings (pypdf, cryptography) become log records, not raw stderr


def quiet_libraries() -> None:
    """fontTools reports every table it drops while pyHanko subsets the text-block font: not news."""
    logging.getLogger("fontTools").setLevel(logging.ERROR)


# --- the command line ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CliLogging:
    """How a command logs; passed to signing worker processes so they log the same way."""

    verbosity: int = 0  # 0: nothing on stderr; 1 (-v): INFO and up; 2 (-vv): DEBUG, with tracebacks
    file: Path | None = None  # every WARNING and up, with tracebacks


_CLI_MARK = "_kyso_cli"


def cli_log_file(var_dir: Path) -> Path | None:
    """`<var_dir>/log/cli.log` when var_dir exists and the log folder can be made; never in the current
    directory, never creating var_dir itself."""
    var = Path(var_dir)
    if not var.is_dir():
        return None
    folder = var / "log"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
    except OSError:
        return None
    path = folder / "cli.log"
    return path if os.access(folder, os.W_OK) and (not path.exists() or os.access(path, os.W_OK)) else None


def setup_cli_logging(spec: CliLogging) -> None:
    """Replace the handlers a previous call added (and only those: test harnesses keep theirs)."""
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, _CLI_MARK, False):
            root.removeHandler(old)
            old.close()
    level = logging.DEBUG if spec.verbosity >= 2 else logging.INFO if spec.verbosity == 1 else logging.WARNING
    root.setLevel(level)
    if spec.verbosity:
        err = logging.StreamHandler(sys.stderr)
        err.setFormatter(HumanFormatter(tracebacks=spec.verbosity >= 2))
        err.setLevel(level)
        setattr(err, _CLI_MARK, True)
        root.addHandler(err)
    if spec.file is not None:
        try:
            fh = logging.FileHandler(spec.file, encoding="utf-8", delay=True)
        except OSError:
            fh = None
        if fh is not None:
            fh.setFormatter(HumanFormatter())
            fh.setLevel(logging.WARNING if spec.verbosity == 0 else level)
            setattr(fh, _CLI_MARK, True)
            root.addHandler(fh)
    if not any(getattr(h, _CLI_MARK, False) for h in root.handlers):
        # Without a handler of ours Python's last resort would print WARNINGs (and tracebacks) on stderr.
        null = logging.NullHandler()
        setattr(null, _CLI_MARK, True)
        root.addHandler(null)
    _quiet_noisy(level)
    logging.captureWarnings(True)
