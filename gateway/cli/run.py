"""`gateway run [--only smtp,folder,http]`: start the doors (gateway.runtime)."""

from __future__ import annotations

from gateway.cli.common import settings_from
from gateway.doors import door_names

CHOICES = door_names()


def _only(value: str) -> set[str]:
    import argparse

    names = {v.strip().lower() for v in value.split(",") if v.strip()}
    bad = names - set(CHOICES)
    if bad or not names:
        raise argparse.ArgumentTypeError(
            f"chỉ nhận / only accepts: {', '.join(CHOICES)} (got {', '.join(sorted(bad)) or 'nothing'})"
        )
    return names


def register(subparsers) -> None:
    import argparse

    p = subparsers.add_parser(
        "run",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        help="chạy cổng ký số (SMTP, thư mục, HTTP) / run the gateway (all enabled doors)",
        description=(
            "Chạy mọi cửa vào được bật (SMTP, thư mục theo dõi, HTTP) trong một tiến trình; dừng bằng SIGTERM/Ctrl+C.\n"
            "Run every enabled door (SMTP, watched folders, HTTP hook) in one process; stop with SIGTERM/Ctrl+C."
        ),
    )
    p.add_argument(
        "--only",
        type=_only,
        metavar="DOORS",
        help="chỉ chạy các cửa này / run only these doors: comma-separated from smtp,folder,http",
    )
    p.set_defaults(func=_run)


def _run(args) -> int:
    from gateway.runtime import run

    # the start-up checks name a missing environment together with every other problem
    return run(settings_from(args, need_environment=False), args.only)
