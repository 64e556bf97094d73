"""HSM: raw RSA-3072 sign operations per second.

Compared in the same run:
  openssl    `openssl speed -seconds S rsa3072` (1 process, and -multi 2): the physical limit of the key
             operation on this CPU, outside any token.
  pkcs11     a plain python-pkcs11 loop on the dev token (one process): SoftHSM's own cost.
  gateway    gateway.signing.keys.TokenKey.sign (the gateway's key layer: lock, session reuse, mechanism
             choice) in 1 and 2 worker processes, one session each: what the worker pool can reach.
  engine     Engine.sign_smime of a tiny message with 1 and 2 workers (a whole CMS per operation), when the
             engine exists: the pool's real per-operation ceiling including CMS building and IPC.

    .venv/bin/python -m bench.bench_hsm [--smoke] [--seconds S]
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import re
import subprocess
import sys
import time
from pathlib import Path

from bench.common import (
    PyHankoBaseline,
    arg_parser,
    bench_env,
    print_table,
    ratio,
    write_json,
)

NAME = "hsm"
DATA = b"x" * 32  # the token hashes it (CKM_SHA256_RSA_PKCS): what a CMS signed-attributes blob costs


def openssl_speed(seconds: int, multi: int = 1) -> float:
    """RSA-3072 private-key operations per second from `openssl speed` (sum over `multi` processes)."""
    argv = ["openssl", "speed", "-seconds", str(seconds)]
    if multi > 1:
        argv += ["-multi", str(multi)]
    out = subprocess.run([*argv, "rsa3072"], capture_output=True, text=True, check=True).stdout
    # single: "rsa 3072 bits 0.001234s 0.000045s    810.2  22222.2"
    # multi:  "+F2:...:3072:sign_time:verify_time" lines and a summary table like the single one
    for line in out.splitlines():
        m = re.match(r"\s*rsa\s+3072 bits\s+([\d.]+)s\s+([\d.]+)s\s+([\d.]+)\s+([\d.]+)", line)
        if m:
            return float(m.group(3))
    raise RuntimeError(f"cannot parse openssl speed output:\n{out}")


def pkcs11_loop(token, seconds: float) -> float:
    """Plain python-pkcs11 (through pyHanko's signer object, one session): ops/s in this process."""
    import pkcs11
    from pkcs11 import Mechanism

    base = PyHankoBaseline(token)
    key = base._session.get_key(object_class=pkcs11.ObjectClass.PRIVATE_KEY, label=token.key_label)
    n, end = 0, time.perf_counter() + seconds
    start = time.perf_counter()
    while time.perf_counter() < end:
        key.sign(DATA, mechanism=Mechanism.SHA256_RSA_PKCS)
        n += 1
    elapsed = time.perf_counter() - start
    base.close()
    return n / elapsed


def _gateway_worker(out: str, barrier, results, seconds: float) -> None:
    """In a spawned worker: open the gateway's TokenKey, wait for the others, sign for `seconds`."""
    from bench.common import bench_env
    from gateway.signing.keys import TokenKey

    env = bench_env(Path(out), require_gateway=True)
    key = TokenKey(env.settings.token)
    key.sign(DATA)  # session open and logged in before the clock starts
    barrier.wait()
    n, t0 = 0, time.perf_counter()
    end = t0 + seconds
    while time.perf_counter() < end:
        key.sign(DATA)
        n += 1
    results.put((n, time.perf_counter() - t0))
    key.close()


def gateway_pool(out: Path, workers: int, seconds: float) -> float:
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(workers), ctx.Queue()
    procs = [ctx.Process(target=_gateway_worker, args=(str(out), barrier, results, seconds)) for _ in range(workers)]
    for pr in procs:
        pr.start()
    got = [results.get(timeout=120) for _ in procs]
    for pr in procs:
        pr.join(30)
    return sum(n / el for n, el in got)


async def _engine_smime(env, workers: int, seconds: float) -> tuple[float, int]:
    from gateway.engine import Engine

    msg = b"Content-Type: text/plain; charset=utf-8\r\n\r\nbench\r\n"
    with Engine(env.settings, workers=workers) as engine:
        await asyncio.gather(*(engine.sign_smime(msg) for _ in range(workers * 2)))  # warm every worker
        n = errors = 0
        end = time.perf_counter() + seconds
        t0 = time.perf_counter()

        async def client():
            nonlocal n, errors
            while time.perf_counter() < end:
                try:
                    await engine.sign_smime(msg)
                    n += 1
                except Exception:  # noqa: BLE001 - counted, reported
                    errors += 1

        await asyncio.gather(*(client() for _ in range(workers * 2)))
        return n / (time.perf_counter() - t0), errors


def main(argv: list[str] | None = None) -> int:
    p = arg_parser(__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=None, help="duration of each measurement (default 3)")
    a = p.parse_args(argv)
    seconds = a.seconds or (0.3 if a.smoke else 3.0)
    env = bench_env(a.out)

    rows: list[dict] = []
    ossl1 = openssl_speed(max(1, int(seconds)))
    rows.append({"case": "openssl speed rsa3072", "workers": 1, "ops_per_s": ossl1})
    if not a.smoke:
        rows.append({"case": "openssl speed rsa3072", "workers": 2, "ops_per_s": openssl_speed(int(seconds), 2)})
    rows.append({"case": "python-pkcs11 loop (SoftHSM)", "workers": 1, "ops_per_s": pkcs11_loop(env.token, seconds)})
    if env.has_gateway:
        for w in ([1] if a.smoke else [1, 2]):
            rows.append({"case": "gateway TokenKey pool", "workers": w, "ops_per_s": gateway_pool(a.out, w, seconds)})
        try:
            import gateway.engine  # noqa: F401 - PIPELINE helper's, may not have landed
        except ImportError:
            print("bench_hsm: gateway.engine not available; engine rows skipped", file=sys.stderr)
        else:
            for w in ([1] if a.smoke else [1, 2]):
                ops, errors = asyncio.run(_engine_smime(env, w, seconds))
                rows.append({"case": "engine.sign_smime (CMS)", "workers": w, "ops_per_s": ops, "errors": errors})
    for r in rows:
        r["vs_openssl_1"] = ratio(r["ops_per_s"], ossl1)
        r["ms_per_op"] = 1000.0 / r["ops_per_s"] if r["ops_per_s"] else float("nan")
    print_table(
        "HSM raw sign operations (RSA-3072, SHA-256, PKCS#1 v1.5)",
        ["case", "workers", "ops/s", "ms/op", "× openssl(1)"],
        [(r["case"], r["workers"], r["ops_per_s"], r["ms_per_op"], r["vs_openssl_1"]) for r in rows],
    )
    write_json(a.out, NAME, {"smoke": a.smoke, "seconds": seconds, "gateway": env.has_gateway, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
