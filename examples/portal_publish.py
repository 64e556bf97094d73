#!/usr/bin/env python3
"""How a portal publishes through Kyso Gateway: send the PDF, publish what comes back, never the original.

    .venv/bin/python examples/portal_publish.py FILE.pdf [--url http://127.0.0.1:8080 (or $KYSO_URL)]
        [--token-file var/secrets/http-dev-token]
        [--kind issued|attachment|copy|correspondence] [--number 12/QĐ-UBND] [--out signed.pdf]

200 -> the signed document (or the unchanged one when it already carried a valid organisation signature): publish it.
422 -> refused (REJECT) or blocked (BLOCK: state secret): do not publish; show the reasons to the editor.
503 -> temporary (signing device, log): keep the document, retry after Retry-After seconds.
Exit codes: 0 published-ready, 3 refused, 4 gave up retrying, 2 usage / authentication.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import httpx


def publish(client: httpx.Client, path: Path, meta: dict[str, str], out: Path, attempts: int = 5) -> int:
    for attempt in range(1, attempts + 1):
        with open(path, "rb") as fh:  # streamed from disk, not read whole into memory
            r = client.post(
                "/v1/documents:sign",
                files={"file": (path.name, fh, "application/pdf")},
                data=meta,
            )
        if r.status_code == 200:
            out.write_bytes(r.content)
            print(f"OK {r.headers['X-Kyso-Outcome']} (quyết định / decision {r.headers['X-Kyso-Decision-Id']}) -> {out}")
            return 0
        if r.status_code == 422:
            problem = r.json()
            print(f"KHÔNG ĐĂNG / NOT PUBLISHED ({problem.get('outcome')}, decision {problem.get('decision_id')}):")
            for reason in problem["reasons"]:
                print(f"  - {reason['vi']}\n    {reason['en']}\n    [{reason['code']}] {reason['basis']}")
            return 3
        if r.status_code == 503:
            wait = int(r.headers.get("Retry-After", "30"))
            print(f"tạm thời chưa ký được / temporarily unavailable ({r.json()['code']}); retry {attempt}/{attempts} in {wait}s")
            time.sleep(wait)
            continue
        print(f"HTTP {r.status_code}: {r.text[:500]}", file=sys.stderr)
        return 2
    return 4


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file", type=Path)
    ap.add_argument("--url", default=os.environ.get("KYSO_URL", "http://127.0.0.1:8080"))  # as the .sh example
    ap.add_argument("--token-file", type=Path, default=Path("var/secrets/http-dev-token"))
    ap.add_argument("--kind", default="correspondence")
    ap.add_argument("--number")
    ap.add_argument("--title")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    token = args.token_file.read_text().strip()
    meta = {k: v for k, v in {"kind": args.kind, "number": args.number, "title": args.title}.items() if v}
    out = args.out or args.file.with_name(args.file.stem + ".signed.pdf")
    with httpx.Client(base_url=args.url, headers={"Authorization": f"Bearer {token}"}, timeout=300) as client:
        return publish(client, args.file, meta, out)


if __name__ == "__main__":
    raise SystemExit(main())
