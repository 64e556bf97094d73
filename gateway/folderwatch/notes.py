"""Notes for the clerk: `NAME.decision.json` (machines) and `NAME.ly-do.txt` beside a refused file, and
`NAME.dang-cho.txt` ("waiting") in the inbox where a file is held for a temporary reason (the HSM, the disk).

The text notes say why in Vietnamese first, then in English, with the reason code and the legal basis; times
in Vietnam time (+07:00). None carries document content.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from gateway.folderwatch import fsops
from gateway.folderwatch.mapping import Verdict
from gateway.folderwatch.stability import HELD_NOTE
from gateway.model import VN_TZ, Outcome, Reason
from gateway.reasons import render, render_all


DECISION = ".decision.json"
LY_DO = ".ly-do.txt"
TAILS = (DECISION, LY_DO)

_OUTCOME = {
    Outcome.REJECT: ("BỊ TỪ CHỐI", "REJECTED"),
    Outcome.BLOCK: ("BỊ CHẶN (tài liệu mật)", "BLOCKED (state-secret mark)"),
    Outcome.SIGN: ("ĐÃ KÝ SỐ", "SIGNED"),
    Outcome.PASS: ("CHUYỂN TIẾP KHÔNG THAY ĐỔI", "PASSED UNCHANGED"),
}


def decision_json(v: Verdict, *, file: str, original: str, watch: str, claim_id: str, shortened: bool = False) -> dict:
    return {
        "file": file,
        "original": original,
        "name_shortened": shortened,
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


def vn_time(iso: str) -> str:
    """An ISO time as the clerk reads it: Vietnam time, +07:00 (stored times may be UTC)."""
    try:
        t = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return iso or "-"
    t = t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t
    return t.astimezone(VN_TZ).isoformat(timespec="seconds")


def ly_do_text(v: Verdict, *, file: str, original: str, shortened: bool = False) -> str:
    vi, en = _OUTCOME[v.outcome]
    reasons = render_all(v.reasons)
    renamed = render(Reason.of("NAME_SHORTENED", original=original, name=file)) if shortened else None
    ref = f"{v.record_id}" if v.record_id is not None else "-"
    when = vn_time(v.decided_at)
    lines = [
        f"Tệp: {file}",
        f"Đường dẫn ban đầu: {original}",
        f"Kết quả: {vi}",
        f"Thời điểm: {when}",
        "Lý do:",
        *[f"  - {r.vi}" + (f" (căn cứ: {r.basis})" if r.basis else "") + f" [{r.code}]" for r in reasons],
        *([f"Lưu ý: {renamed.vi} [{renamed.code}]"] if renamed else []),
        f"Số hiệu bản ghi nhật ký: {ref}",
        "",
        "---- English ----",
        f"File: {file}",
        f"Original path: {original}",
        f"Outcome: {en}",
        f"Time: {when}",
        "Reasons:",
        *[f"  - {r.en}" + (f" (basis: {r.basis})" if r.basis else "") + f" [{r.code}]" for r in reasons],
        *([f"Note: {renamed.en} [{renamed.code}]"] if renamed else []),
        f"Decision log record: {ref}",
        "",
    ]
    return "\n".join(lines)


def write_notes(dest_dir: Path, final_name: str, v: Verdict, *, original: str, watch: str, claim_id: str,
                mode: int = fsops.PRIVATE_FILE, shortened: bool = False) -> tuple[Path, Path]:
    """Write both notes for the file now named final_name (our own names: rewriting them is idempotent).
    `mode`: the folder's own (fsops.shared_mode) for clerks' folders, 0600 in quarantine."""
    dj = dest_dir / (final_name + DECISION)
    tx = dest_dir / (final_name + LY_DO)
    fsops.write_json(dj, decision_json(v, file=final_name, original=original, watch=watch, claim_id=claim_id,
                                       shortened=shortened), mode, readable=True)
    fsops.write_atomic(tx, ly_do_text(v, file=final_name, original=original, shortened=shortened)
                       .encode("utf-8", "surrogateescape"), mode)
    return dj, tx


# --- a file held for a temporary reason --------------------------------------------------------------------


def held_note_path(inbox_dir: Path, name: str) -> Path:
    return inbox_dir / (name + HELD_NOTE)


def held_text(name: str, original: str, reason: Reason, attempts: int, since: datetime) -> str:
    r = render(reason)
    t = since.astimezone(VN_TZ).isoformat(timespec="seconds")
    return "\n".join([
        f"Tệp: {name}",
        f"Đường dẫn ban đầu: {original}",
        "Kết quả: ĐANG CHỜ, CHƯA KÝ SỐ (lỗi tạm thời)",
        f"Từ lúc: {t}; đã thử {attempts} lần",
        f"Lý do: {r.vi} [{r.code}]",
        "Tệp được giữ an toàn trong cổng ký số và sẽ được xử lý tự động khi sự cố được khắc phục; không cần gửi"
        " lại. Ghi chú này tự mất khi tệp đã được xử lý. Nếu chờ quá lâu, hãy báo quản trị hệ thống.",
        "",
        "---- English ----",
        f"File: {name}",
        f"Original path: {original}",
        "Outcome: WAITING, NOT SIGNED YET (temporary failure)",
        f"Since: {t}; tried {attempts} time(s)",
        f"Reason: {r.en} [{r.code}]",
        "The file is kept safe inside the gateway and will be processed automatically once the problem is fixed;"
        " no need to send it again. This note disappears once the file is done. If it waits too long, tell the"
        " administrator.",
        "",
    ])


def write_held_note(inbox_dir: Path, name: str, original: str, reason: Reason, attempts: int,
                    since: datetime, *, mode: int = fsops.PRIVATE_FILE) -> Path:
    """Where the file was, the clerk sees why it is not signed yet (rewritten at each attempt). `mode`: the
    inbox's own (fsops.shared_mode), so the clerk can read it."""
    path = held_note_path(inbox_dir, name)
    inbox_dir.mkdir(parents=True, exist_ok=True)
    fsops.write_atomic(path, held_text(name, original, reason, attempts, since).encode("utf-8", "surrogateescape"),
                       mode)
    return path


def remove_held_note(inbox_dir: Path, name: str) -> None:
    held_note_path(inbox_dir, name).unlink(missing_ok=True)
