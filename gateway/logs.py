"""Logging set-up shared by `gateway run` and the signing worker processes: human or JSON lines.

Never logged anywhere: PINs, tokens, keys, document content (only ids, names, codes).
"""

from __future__ import annotations

import json
import logging
import sys
import time

class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (+ exception type, never locals)."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
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


def setup_logging(settings, stream=None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    for noisy in ("uvicorn.access", "watchdog", "asyncio", "pyhanko", "urllib3", "httpx"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    quiet_libraries()


def quiet_libraries() -> None:
    """fontTools reports every table it drops while pyHanko subsets the text-block font: not news."""
    logging.getLogger("fontTools").setLevel(logging.ERROR)


