"""What every command shares: settings loading, exit codes, printing reasons for people."""

from __future__ import annotations

import logging
import sys
from typing import Iterable

from gateway.errors import ConfigError, GatewayError, PermanentError
from gateway.model import Reason
from gateway.reasons import render

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_REFUSED = 3
EXIT_TEMPORARY = 4

log = logging.getLogger("gateway.cli")


def settings_from(args):
    """Settings for a command: --config, else $KYSO_CONFIG, else the development default."""
    from gateway.settings import load_settings

    return load_settings(getattr(args, "config", None))


def say(*lines: str, file=None) -> None:
    for line in lines:
        print(line, file=file or sys.stdout)


def say_reasons(reasons: Iterable[Reason], *, prefix: str = "  - ", file=None) -> None:
    for r in reasons:
        say(prefix + render(r).line(), file=file)


def exit_code_for(exc: BaseException) -> int:
    if isinstance(exc, ConfigError):
        return EXIT_USAGE
    if isinstance(exc, PermanentError):
        return EXIT_REFUSED
    return EXIT_TEMPORARY


def die_with(exc: BaseException) -> int:
    """Print an error for people (Vietnamese, English, code) and return its exit code. No tracebacks."""
    if isinstance(exc, ConfigError):
        say(str(exc), file=sys.stderr)
    elif isinstance(exc, GatewayError):
        say("lỗi / error: " + render(exc.reason).line(), file=sys.stderr)
    else:
        log.debug("unexpected error", exc_info=exc)
        say("lỗi / error: " + render(Reason.of("INTERNAL_ERROR")).line() + f" ({type(exc).__name__})", file=sys.stderr)
    return exit_code_for(exc)
