"""Memory under parallel large mails: 8 mails of ~47 MB at once through `gateway run --only smtp` (issue 15).

The attack: eight parallel 47 MB mails took the gateway from 255 MB to 1.4 GB. The SMTP door now holds at
most `smtp.max_inflight_bytes` of message bytes in memory (received or being processed); the rest wait on
disk in private spool files. This bench runs the real gateway as a child process (its signing workers
included) with a local sink as the next hop, and samples the summed RSS of the whole process tree every
20 ms:

  idle          the tree before the first byte (baseline of the same run)
  bounded       the configured budget (default settings: 64 MiB)
  unbounded     the same gateway with the budget lifted (max_inflight_bytes = 1 TiB): what it costs without

Reported: peak tree RSS, peak - idle, per message size, replies and time. The figure that must hold:
peak tree RSS of the bounded run <= --max-rss-mb (default 768 MB; exit status 1 when it does not).

    .venv/bin/python -m bench.bench_memory [--smoke] [--mails 8] [--mb 47] [--workers 2] [--max-rss-mb 768]
                                           [--budget-mb 64] [--skip-unbounded]
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
from email.message import EmailMessage
from pathlib import Path

from bench.common import MB, REPO, arg_parser, bench_env, descendants, pdf_corpus, print_table, proc_status_kb, write_json

NAME = "memory"
GATEWAY = Path(sys.executable).parent / "gateway"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree_rss_mb(root: int) -> float:
    total = 0
    for pid in [root, *descendants(root)]:
        total += proc_status_kb(pid).get("VmRSS", 0)
    return total / 1024


class TreeSampler:
    """The peak of the summed RSS of a process tree (sampled; what the machine actually had to give)."""

    def __init__(self, root: int, interval: float = 0.02) -> None:
        self.root, self.interval = root, interval
        self.peak = 0.0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss_mb(self.root))
            time.sleep(self.interval)

    def __enter__(self) -> "TreeSampler":
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()


def _mail(pdf: Path, i: int) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "van.thu@kyso.example", "doi.tac@partner.example", f"Hồ sơ {i}"
    msg.set_content("Kính gửi,\nXin gửi hồ sơ kèm theo.\n")
    msg.add_attachment(pdf.read_bytes(), maintype="application", subtype="pdf", filename=f"ho-so-{i}.pdf")
    return msg.as_bytes()


def _start(env_settings, workers: int, budget: int, logdir: Path) -> tuple[subprocess.Popen, int]:
    port, upstream = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_") and k != "KYSO_CONFIG"}
    env.update(GATEWAY_VAR_DIR=str(env_settings.var_dir), GATEWAY_LOG_FORMAT="json",
               GATEWAY_SMTP__PORT=str(port), GATEWAY_SMTP__UPSTREAM_PORT=str(upstream),
               GATEWAY_SMTP__SINK_ENABLED="true", GATEWAY_SMTP__SINK_DIR=str(logdir / "sink"),
               GATEWAY_SMTP__MAX_MESSAGE_BYTES=str(200 * MB), GATEWAY_SMTP__MAX_INFLIGHT_BYTES=str(budget),
               GATEWAY_SIGNING__WORKERS=str(workers), GATEWAY_AUDIT__PATH=str(logdir / "audit.sqlite3"))
    err = open(logdir / "stderr", "wb")
    proc = subprocess.Popen([str(GATEWAY), "run", "--only", "smtp"], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=err, start_new_session=True)
    err.close()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gateway run exited {proc.returncode}: {(logdir / 'stderr').read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                if s.recv(100).startswith(b"220"):
                    return proc, port
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("gateway run did not come up")


def _send(port: int, raw: bytes, out: list) -> None:
    t0 = time.perf_counter()
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=600) as c:
            c.sendmail("van.thu@kyso.example", ["doi.tac@partner.example"], raw)
        out.append((250, time.perf_counter() - t0))
    except smtplib.SMTPResponseException as exc:
        out.append((exc.smtp_code, time.perf_counter() - t0))
    except (smtplib.SMTPException, OSError):
        out.append((None, time.perf_counter() - t0))


def run_case(label: str, env_settings, mails: list[bytes], workers: int, budget: int, root: Path) -> dict:
    logdir = root / label
    shutil.rmtree(logdir, ignore_errors=True)
    logdir.mkdir(parents=True)
    proc, port = _start(env_settings, workers, budget, logdir)
    try:
        time.sleep(2.0)  # workers warm, nothing in flight
        idle = tree_rss_mb(proc.pid)
        replies: list = []
        t0 = time.perf_counter()
        with TreeSampler(proc.pid) as sampler:
            threads = [threading.Thread(target=_send, args=(port, m, replies)) for m in mails]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        wall = time.perf_counter() - t0
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    codes: dict[str, int] = {}
    for code, _ in replies:
        codes[str(code)] = codes.get(str(code), 0) + 1
    shutil.rmtree(logdir / "sink", ignore_errors=True)
    return {"budget_mb": budget / MB, "idle_mb": idle, "peak_mb": sampler.peak, "added_mb": sampler.peak - idle,
            "wall_s": wall, "replies": codes, "latency_s_max": max((s for _, s in replies), default=0.0)}


def main(argv: list[str] | None = None) -> int:
    p = arg_parser(__doc__.splitlines()[0])
    p.add_argument("--mails", type=int, default=8)
    p.add_argument("--mb", type=float, default=47.0, help="size of each mail as sent (base64 included)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--budget-mb", type=float, default=64.0, help="smtp.max_inflight_bytes for the bounded run")
    p.add_argument("--max-rss-mb", type=float, default=768.0, help="the figure the bounded run must stay under")
    p.add_argument("--skip-unbounded", action="store_true")
    args = p.parse_args(argv)
    if args.smoke:
        args.mails, args.mb, args.budget_mb, args.skip_unbounded = 2, 2.0, 1.0, True
    env = bench_env(args.out, require_gateway=True)
    pdf_size = int(args.mb * MB * 57 / 78)  # base64 in 76-column lines: 78 bytes per 57
    pdfs = pdf_corpus(args.out / "pdfs", f"mem{int(args.mb)}", pdf_size, args.mails)
    mails = [_mail(p, i) for i, p in enumerate(pdfs)]
    sizes = [len(m) / MB for m in mails]
    root = args.out / "memory-runs"
    results = {"bounded": run_case("bounded", env.settings, mails, args.workers, int(args.budget_mb * MB), root)}
    if not args.skip_unbounded:
        results["unbounded"] = run_case("unbounded", env.settings, mails, args.workers, 1 << 40, root)
    del mails
    rows = [(k, r["budget_mb"] if k == "bounded" else "none", r["idle_mb"], r["peak_mb"], r["added_mb"],
             r["wall_s"], ", ".join(f"{c}x{n}" for c, n in sorted(r["replies"].items()))) for k, r in results.items()]
    print_table(f"{args.mails} parallel mails of {sum(sizes) / len(sizes):.1f} MB through `gateway run --only smtp` "
                f"({args.workers} workers): summed RSS of the process tree",
                ["case", "budget MB", "idle MB", "peak MB", "peak-idle MB", "wall s", "replies"], rows)
    bounded = results["bounded"]
    within = bounded["peak_mb"] <= args.max_rss_mb
    ratio = (results["unbounded"]["added_mb"] / bounded["added_mb"]) if "unbounded" in results and bounded["added_mb"] else None
    print(f"\nbounded peak {bounded['peak_mb']:.0f} MB vs the configured figure {args.max_rss_mb:.0f} MB: "
          f"{'within' if within else 'OVER'}" + (f"; unbounded adds {ratio:.1f}x as much" if ratio else ""))
    write_json(args.out, NAME, {"smoke": args.smoke, "mails": args.mails, "mail_mb": sizes, "workers": args.workers,
                                "max_rss_mb": args.max_rss_mb, "within": within, "results": results,
                                "unbounded_over_bounded_added": ratio})
    return 0 if within else 1


if __name__ == "__main__":
    raise SystemExit(main())
