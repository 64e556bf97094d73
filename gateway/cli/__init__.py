"""`gateway` command line: wiring and commands only. Each subcommand lives in its own module here.

Exit codes (documented in README): 0 success, 2 usage, 3 refused / invalid, 4 temporary (try again).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

from gateway import __version__
from gateway.cli.common import EXIT_TEMPORARY, EXIT_USAGE, die_with

# Each module defines register(subparsers); order is the order shown in --help.
COMMAND_MODULES = (
    "gateway.cli.devinit",  # dev-init
    "gateway.cli.sign",  # sign, check
    "gateway.cli.verify",  # verify
    "gateway.cli.log",  # log verify|show
    "gateway.cli.certs",  # certs ...
    "gateway.cli.report",  # report
    "gateway.cli.run",  # run
)

DESCRIPTION = (
    "Cổng ký số Kyso: ký số văn bản gửi đi bằng khóa của cơ quan trong HSM (Quy chế, Điều 4).\n"
    "Kyso Gateway: signs an agency's outgoing documents with its HSM-held key."
)

VERBOSE_HELP = (
    "hiện cả cảnh báo của thư viện (-vv: kèm chi tiết lỗi); mặc định chúng chỉ ghi vào var/log/cli.log / "
    "show library warnings too (-vv: with tracebacks); by default they go to var/log/cli.log only"
)

EPILOG = (
    "Mã thoát / exit codes: 0 thành công / success; 2 sai cú pháp, cấu hình, không khởi động được / usage, "
    "configuration, cannot start; 3 bị từ chối, không hợp lệ / refused, invalid; "
    "4 lỗi tạm thời, thử lại / temporary, try again."
)
HELP_HELP = "hiện hướng dẫn này / show this help and exit"
VERSION_HELP = "hiện phiên bản / show the version and exit"


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def add_usage(self, usage, actions, groups, prefix=None):
        super().add_usage(usage, actions, groups, "cách dùng / usage: " if prefix is None else prefix)


class _Parser(argparse.ArgumentParser):
    """argparse with its own words in both languages: usage, section titles, -h, errors (exit 2)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        kwargs["add_help"] = False
        super().__init__(*args, **kwargs)
        self._positionals.title = "đối số / arguments"
        self._optionals.title = "tùy chọn / options"
        self.add_argument("-h", "--help", action="help", default=argparse.SUPPRESS, help=HELP_HELP)

    def add_subparsers(self, **kwargs):
        kwargs.setdefault("title", "lệnh / commands")
        return super().add_subparsers(**kwargs)

    def error(self, message: str) -> None:  # usage errors exit 2 with both languages
        self.print_usage(sys.stderr)
        print(f"lỗi cú pháp / usage error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gateway", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"Kyso Gateway {__version__}", help=VERSION_HELP)
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="tệp cấu hình TOML / TOML config file (default: $KYSO_CONFIG, else the development default)",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help=VERBOSE_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        if importlib.util.find_spec(name) is None:
            continue  # a command whose module is not installed in this build
        importlib.import_module(name).register(sub)
    _verbose_everywhere(sub)
    return parser


def _verbose_everywhere(subparsers) -> None:
    """-v after the command name too (`gateway sign -v ...`), at every level of subcommands; a command
    without a description of its own shows its one-line help (both languages) at the top of its --help."""
    helps = {a.dest: a.help for a in subparsers._choices_actions}
    for name, p in subparsers.choices.items():
        if not p.description and helps.get(name):
            p.description = helps[name]
        if p.epilog is None:
            p.epilog = EPILOG
        if any("--verbose" in a.option_strings for a in p._actions):
            continue  # an alias of a command already done
        p.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS, help=VERBOSE_HELP)
        for action in p._subparsers._group_actions if p._subparsers else ():
            if isinstance(action, argparse._SubParsersAction):
                _verbose_everywhere(action)


def main(argv: list[str] | None = None) -> int:
    from gateway.logs import quiet_libraries

    quiet_libraries()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return EXIT_TEMPORARY
    except Exception as exc:  # the one place errors become exit codes
        return die_with(exc)


if __name__ == "__main__":
    raise SystemExit(main())
