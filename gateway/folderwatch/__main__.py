"""`python -m gateway.folderwatch [--config F]`: only the folder door, with its own Engine.

Same start/stop as `gateway run` (signals, grace, banner), restricted to the folder door.
"""

from __future__ import annotations

import argparse
import asyncio
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.folderwatch",
                                     description="Cổng ký số: chỉ cửa thư mục / folder door only")
    parser.add_argument("--config", help="tệp cấu hình TOML / TOML config file (default: $KYSO_CONFIG)")
    args = parser.parse_args(argv)
    from gateway.cli.common import die_with
    from gateway.runtime import serve, setup_logging
    from gateway.settings import load_settings

    try:
        settings = load_settings(args.config)
        setup_logging(settings)
        return asyncio.run(serve(settings, {"folder"}))
    except Exception as exc:
        return die_with(exc)


if __name__ == "__main__":
    sys.exit(main())
