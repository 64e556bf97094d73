"""Notes left beside a refused file: `NAME.decision.json` for machines, `NAME.ly-do.txt` for the clerk.

The text note says why in Vietnamese first, then in English, with the reason code and the legal basis.
Neither carries document content.
"""

from __future__ import annotations

from pathlib import Path

from gateway.folderwatch import fsops
from gateway.folderwatch.mapping import Verdict
from gateway.model import Outcome
from gateway.reasons import render_all

DECISION = ".decision.json"
LY_DO = ".ly-do.txt"
TAILS = (DECISION, LY_DO)

_OUTCOME = {
    Outcome.REJECT: ("BỊ TỪ CHỐI", "REJECTED"),
    Outcome.BLOCK: ("BỊ CHẶN (tài liệu mật)", "BLOCKED (state-secret mark)"),
    Outcome.SIGN: ("ĐÃ KÝ SỐ", "SIGNED"),
    Outcome.PASS: ("CHUYỂN TIẾP KHÔNG THAY ĐỔI", "PASSED UNCHANGED"),
}


def decision_json(v: Verdict, *, file: str, original: str, watch: str, claim_id: str) -> dict:
    return {
        "file": file,
        "original": original,
        "watch": watch,
        "claim": claim_id,
        "outcome": v.outcome.value,
        "reasons": [r.as_dict() for r in render_all(v.reasons)],
        "warnings": [r.as_dict() for r in render_all(v.warnings)],
        "document_id": v.document_id,
        "record_id": v.record_id,
        "policy": v.policy,
        "decided_at": v.decided_at,
    }


def ly_do_text(v: Verdict, *, file: str, original: str) -> str:
    vi, en = _OUTCOME[v.outcome]
    reasons = render_all(v.reasons)
    ref = f"{v.record_id}" if v.record_id is not None else "-"
    lines = [
        f"Tệp: {file}",
        f"Đường dẫn ban đầu: {original}",
        f"Kết quả: {vi}",
        f"Thời điểm: {v.decided_at}",
        "Lý do:",
        *[f"  - {r.vi}" + (f" (căn cứ: {r.basis})" if r.basis else "") + f" [{r.code}]" for r in reasons],
        f"Số hiệu bản ghi nhật ký: {ref}",
        "",
        "---- English ----",
        f"File: {file}",
        f"Original path: {original}",
        f"Outcome: {en}",
        f"Time: {v.decided_at}",
        "Reasons:",
        *[f"  - {r.en}" + (f" (basis: {r.basis})" if r.basis else "") + f" [{r.code}]" for r in reasons],
        f"Decision log record: {ref}",
        "",
    ]
    return "\n".join(lines)


def write_notes(dest_dir: Path, final_name: str, v: Verdict, *, original: str, watch: str, claim_id: str,
                mode: int = 0o644) -> tuple[Path, Path]:
    """Write both notes for the file now named final_name (our own names: rewriting them is idempotent)."""
    dj = dest_dir / (final_name + DECISION)
    tx = dest_dir / (final_name + LY_DO)
    fsops.write_json(dj, decision_json(v, file=final_name, original=original, watch=watch, claim_id=claim_id), mode,
                     readable=True)
    fsops.write_atomic(tx, ly_do_text(v, file=final_name, original=original).encode("utf-8", "surrogateescape"), mode)
    return dj, tx
