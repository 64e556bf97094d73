"""Every benchmark runs in --smoke mode (seconds) and writes its JSON with the expected keys.

Nothing here is about speed: the figures are ratios for bench/README.md, not test assertions. Each bench runs
as the documented command (`python -m bench.X --smoke`) in a subprocess, all sharing one output directory
(one dev environment) for the session.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.hsm


@pytest.fixture(scope="session")
def bench_out(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bench-out")


def run_bench(name: str, out: Path, *extra: str, timeout: float = 120) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", "--smoke", "--out", str(out), *extra],
        cwd=REPO, capture_output=True, text=True, timeout=timeout,
    )
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    short = name.removeprefix("bench_")
    data = json.loads((out / f"{short}.json").read_text(encoding="utf-8"))
    assert data["bench"] == short and data["smoke"] is True
    assert {"date", "cpus", "versions"} <= set(data["machine"])
    assert "->" in proc.stdout and "---" in proc.stdout  # printed its table and where the JSON went
    return data


def test_bench_hsm(bench_out):
    data = run_bench("bench_hsm", bench_out)
    cases = {r["case"] for r in data["rows"]}
    assert {"openssl speed rsa3072", "python-pkcs11 loop (SoftHSM)", "gateway TokenKey pool",
            "engine.sign_smime (CMS)"} <= cases
    assert all(r["ops_per_s"] > 0 for r in data["rows"])
    assert all(r.get("errors", 0) == 0 for r in data["rows"])


def test_bench_signing(bench_out):
    res = run_bench("bench_signing", bench_out)["results"]["50k"]
    assert {"pyhanko_1p", "org_signer", "pipeline", "engine_1w"} <= set(res)
    assert res["pipeline"]["outcomes"] == {"sign": res["n"]}
    assert res["engine_1w"]["outcomes"] == {"sign": res["n"]} and res["engine_1w"]["errors"] == 0
    assert {"p50", "p95", "p99"} <= set(res["engine_1w"]["latency_ms"])


def test_bench_validation(bench_out):
    res = run_bench("bench_validation", bench_out)["results"]["50k"]
    assert res["pyhanko"]["valid"] == res["pyhanko"]["ms"]["n"]
    assert res["gateway"]["valid"] == res["gateway"]["ms"]["n"]


def test_bench_large(bench_out):
    res = run_bench("bench_large", bench_out)["results"]
    assert res["sha256sum_cp_s"] > 0
    for side in ("pyhanko", "pipeline"):
        assert res[side]["sign_s"] > 0 and res[side]["peak_rss_mb"] > 0
    assert res["pipeline"]["outcome"] == "sign"
    assert res["engine"]["outcome"] == "sign" and res["engine"]["worker_peak_rss_mb"] > 0


def test_bench_smtp(bench_out):
    # one engine worker, in the door's process: the script's every path runs without spawning a pool (the
    # pool is tests/test_engine.py's; its figures are the full bench's)
    res = run_bench("bench_smtp", bench_out, "--workers", "1")["results"]
    for side in ("relay", "gateway"):
        for phase in ("latency", "throughput"):
            r = res[side][phase]
            assert r["errors"] == 0, r["error_samples"]
            assert {"p50", "p95", "p99"} <= set(r["latency_ms"])
        assert res[side]["sink_received"] >= res[side]["throughput"]["n"]
    assert "added_latency_p50_ms" in res
    paired = res["paired"]  # each message through the gw relay, the gateway and signing alone, in turn
    assert paired["n"] >= 2 and paired["added_ms"]["p50"] == paired["added_ms"]["p50"]  # a number, not NaN


def test_bench_folder(bench_out):
    res = run_bench("bench_folder", bench_out)["results"]
    g = res["gateway"]
    assert not g["timed_out"] and g["signed"] == res["n"] and g["left_in_inbox"] == 0


def test_bench_containers(bench_out):
    res = run_bench("bench_containers", bench_out)["results"]
    for case in ("pdfs_one_by_one", "zip", "tar_gz", "7z", "zip_check"):
        assert res[case]["outcomes"] == ["sign"] and res[case]["ratio_to_one_by_one"] > 0


def test_bench_secrecy(bench_out):
    """The smoke subset of the labelled set through inspect: the figures are printed (every class is read in
    tests/test_secrecy_variants.py)."""
    from bench import secrecy_corpus

    data = run_bench("bench_secrecy", bench_out, timeout=300)
    score = data["score"]
    assert score["documents"] == len(secrecy_corpus.SMOKE_CLASSES) and score["positives_readable"] >= 8
    assert score["grainy"]["positives"] >= 1 and data["ocr_s"]["pages"] >= 1
    assert {"p50", "p95"} <= set(data["text_ms"]) and {"p50", "p95"} <= set(data["ocr_s"])
    assert score["false_blocks"] == [] and score["missed"] == []


def test_bench_memory(bench_out):
    data = run_bench("bench_memory", bench_out, timeout=300)
    bounded = data["results"]["bounded"]
    assert bounded["replies"] == {"250": data["mails"]} and bounded["peak_mb"] >= bounded["idle_mb"] > 0
    assert data["within"] is True


def test_bench_office(bench_out):
    res = run_bench("bench_office", bench_out)["results"]
    for label in ("docx", "xlsx", "xlsx_formulas"):  # the last recalculated by LibreOffice, and signable
        assert res[label]["gateway_s"] > 0 and res[label]["unzip_s"] > 0 and res[label]["reader_s"] > 0
        assert res[label]["signable"] == "cades" and res[label]["incomplete"] == []
    assert res["docx"]["python_docx_s"] > 0


def test_bench_stamps(bench_out):
    """One marked and one plain page of one class of stamps drawn out of their usual shape (the fastest to
    read: every class goes through the same judging, and each class's pages are read in
    tests/hardening/test_hard_ocr_shapes.py; the full grids are issue 13's figures): counted, and the plain
    one stays signable."""
    data = run_bench("bench_stamps", bench_out, "--workers", "1", "--classes", "hollow-vector", timeout=300)
    classes = data["classes"]
    assert set(classes) == {"hollow-vector"}
    for cls in classes.values():
        assert sum(cls["marked"].values()) == 1 and cls["plain"] == {"signable": 1}
