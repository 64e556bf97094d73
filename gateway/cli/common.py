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


def settings_from(args, *, need_environment: bool = True, signing: bool = True):
    """Settings for a command: --config, else $KYSO_CONFIG, else the development default.

    Sets up the command's logging (gateway.logs: a log file under var_dir, stderr only with -v). Unless the
    command makes the environment itself (dev-init), a missing one is said plainly: ConfigError, exit 2 —
    never a decision log quietly created wherever the command runs. `signing=False`: the command only needs
    the data folder (decision log, inventory), not the development PKI and token.
    """
    from gateway.logs import setup_cli_logging
    from gateway.settings import environment_problem, load_settings

    settings = load_settings(getattr(args, "config", None))
    setup_cli_logging(cli_logging(args, settings))
    if need_environment:
        problem = environment_problem(settings, signing=signing)
        if problem is not None:
            raise ConfigError(render(problem).line(), code=problem.code, **problem.args)
    return settings


def cli_logging(args, settings):
    """How this command (and its signing workers) log: see gateway.logs."""
    from gateway.logs import CliLogging, cli_log_file

    return CliLogging(verbosity=int(getattr(args, "verbose", 0) or 0), file=cli_log_file(settings.var_dir))


def say(*lines: str, file=None) -> None:
    for line in lines:
        print(line, file=file or sys.stdout)


def say_reasons(reasons: Iterable[Reason], *, prefix: str = "  - ", file=None) -> None:
    for r in reasons:
        say(prefix + render(r).line(), file=file)


# Refusals that are about how the command was called (an argument naming nothing, a bad value), not about
# a document: exit 2 like every usage error, whichever module raised them.
USAGE_CODES = frozenset({
    "BAD_REQUEST", "CERT_SERIAL_INVALID", "CERT_NOT_FOUND", "CERT_AMBIGUOUS", "CERT_REASON_UNKNOWN",
    "REPORT_PERIOD_INVALID",
})


def exit_code_for(exc: BaseException) -> int:
    """The documented scheme: 2 usage / configuration / cannot start, 3 refused / invalid, 4 temporary."""
    if isinstance(exc, ConfigError) or getattr(exc, "code", None) in USAGE_CODES:
        return EXIT_USAGE
    if isinstance(exc, PermanentError):
        return EXIT_REFUSED
    return EXIT_TEMPORARY


def die_with(exc: BaseException) -> int:
    """Print an error for people (Vietnamese, English, code) and return its exit code. No tracebacks."""
    problems = getattr(exc, "problems", None)
    if isinstance(exc, ConfigError) and problems:  # start-up: every cause at once, so one round fixes them
        say("Cổng ký số KHÔNG khởi động / Kyso Gateway NOT started:", file=sys.stderr)
        say_reasons(problems, file=sys.stderr)
    elif isinstance(exc, ConfigError) and exc.code != ConfigError.code:
        say("lỗi / error: " + render(exc.reason).line(), file=sys.stderr)  # a cause with its own reason code
    elif isinstance(exc, ConfigError):
        say(str(exc), file=sys.stderr)
    elif isinstance(exc, GatewayError):
        say("lỗi / error: " + render(exc.reason).line(), file=sys.stderr)
    else:
        log.debug("unexpected error", exc_info=exc)
        say("lỗi / error: " + render(Reason.of("INTERNAL_ERROR")).line() + f" ({type(exc).__name__})", file=sys.stderr)
    return exit_code_for(exc)
