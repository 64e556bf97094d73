"""`gateway sign` and `gateway check`: documents from the command line through the one pipeline (channel cli).

sign:  IN -o OUT                 one file to one file
       IN... -o DIR / FOLDER -o DIR   many files (or a folder's files) into DIR, with progress and a summary
       Signed -> the signed file; passed (already signed) -> an unchanged copy; refused/blocked -> nothing.
       Nothing is overwritten silently: in a batch an output that exists is skipped (said so, counted in the
       summary), one file onto an existing other file is a usage error; --overwrite replaces. `-o` naming
       the input itself signs it in place.
check: FILE... [--channel] [--kind] [--json]   the decision without signing (dry run, logged as a check).

Exit codes: 0 everything signed / passed (would be); 3 something refused or blocked; 4 something hit a
temporary failure (try again) — 4 wins over 3, since a retry is needed either way.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import shutil
import sys
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from gateway import declare
from gateway.cli.common import EXIT_OK, EXIT_REFUSED, EXIT_TEMPORARY, EXIT_USAGE, say, settings_from
from gateway.errors import GatewayError, PermanentError, StorageUnavailable
from gateway.model import Channel, DocKind, Document, Origin, Outcome, Reason, Result
from gateway.reasons import render


LABELS = {
    Outcome.SIGN: "ĐÃ KÝ SỐ / SIGNED",
    Outcome.PASS: "CHUYỂN TIẾP, KHÔNG ĐỔI / PASSED UNCHANGED",
    Outcome.REJECT: "TỪ CHỐI / REJECTED",
    Outcome.BLOCK: "CHẶN: TÀI LIỆU MẬT / BLOCKED: STATE SECRET",
}
CHECK_LABELS = {
    Outcome.SIGN: "SẼ KÝ SỐ / WOULD SIGN",
    Outcome.PASS: "SẼ CHUYỂN TIẾP / WOULD PASS",
    Outcome.REJECT: "TỪ CHỐI / REJECT",
    Outcome.BLOCK: "CHẶN: TÀI LIỆU MẬT / BLOCK: STATE SECRET",
}
TEMPORARY = "temporary"
SKIPPED = "skipped"
SKIPPED_LABEL = "BỎ QUA: TỆP RA ĐÃ CÓ (--overwrite ĐỂ GHI ĐÈ) / SKIPPED: OUTPUT EXISTS (--overwrite TO REPLACE)"


def register(sub) -> None:
    p = sub.add_parser(
        "sign",
        help="ký số tệp PDF / sign PDF files (qua quy trình chính sách / through the policy pipeline)",
        description="Ký số tài liệu bằng khóa của cơ quan, theo chính sách / sign documents with the organisation key, by policy.",
    )
    p.add_argument("inputs", nargs="+", metavar="IN", help="tệp hoặc thư mục / file(s) or a folder")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="tệp ra (một tệp) hoặc thư mục / output file (one input) or directory")
    _doc_args(p)
    p.add_argument("--overwrite", action="store_true",
                   help="ghi đè tệp ra đã có / replace outputs that exist (default: skip them)")
    p.add_argument("--workers", type=int, default=None,
                   help="số tiến trình ký / signing worker processes (default: settings.signing.workers)")
    p.add_argument("--json", action="store_true", help="kết quả dạng JSON / JSON result on stdout")
    p.set_defaults(func=cmd_sign)

    c = sub.add_parser(
        "check",
        help="xem quyết định, không ký / show the decision without signing (dry run)",
        description="Kiểm tra tài liệu theo chính sách, không ký số (ghi nhật ký là kiểm tra) / "
        "check documents against the policy without signing (logged as a check).",
    )
    c.add_argument("inputs", nargs="+", metavar="FILE", help="tệp hoặc thư mục / file(s) or a folder")
    c.add_argument("--channel", choices=[ch.value for ch in Channel], default="cli",
                   help="kênh giả định / the channel to decide for (policy differs per channel)")
    _doc_args(c)
    c.add_argument("--json", action="store_true", help="kết quả dạng JSON / JSON output")
    c.set_defaults(func=cmd_check)


def _doc_args(p) -> None:
    p.add_argument("--kind", type=_kind_arg, default=None, metavar="{" + ",".join(declare.KIND_CHOICES) + "}",
                   help="loại văn bản khai báo / declared kind; bỏ trống: nhận ra từ thể thức văn bản / omitted: "
                        "inferred from the document's Decree 30 form (issued = văn bản phát hành: cần chữ ký người có"
                        " thẩm quyền; sao-y, sao-luc, trich-sao = bản sao với hình thức sao đó)")
    p.add_argument("--copy-form", type=_copy_form_arg, default=None, metavar="{SAO Y,SAO LỤC,TRÍCH SAO}",
                   help="hình thức sao / copy form (with --kind copy)")
    p.add_argument("--copying-agency", help="cơ quan sao / copying agency (copies; default: the organisation)")
    p.add_argument("--number", help='số và ký hiệu văn bản / document number, e.g. "123/UBND-VP" (attachment: '
                                    "the number of the document it belongs to; copy: the copy's own number)")


def _kind_arg(value: str) -> str:
    try:
        declare.parse_kind(value)
    except declare.DeclarationError as exc:
        raise argparse.ArgumentTypeError(f"{value!r}: {exc.allowed}") from None
    return value


def _copy_form_arg(value: str) -> str:
    try:
        declare.parse_copy_form(value)
    except declare.DeclarationError as exc:
        raise argparse.ArgumentTypeError(f"{value!r}: {exc.allowed}") from None
    return value


def _inputs(inputs: list[str]) -> list[Path] | None:
    """The input files, or None (after saying why) when one is missing: a usage error, not "try again"."""
    try:
        return _files(inputs)
    except FileNotFoundError as exc:
        say(f"lỗi / error: không tìm thấy tệp / file not found: {exc}", file=sys.stderr)
        return None


def _files(inputs: list[str]) -> list[Path]:
    out: list[Path] = []
    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            out.extend(sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith(".")))
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(raw)
    return out


def _document(path: Path, args, channel: Channel = Channel.CLI) -> Document:
    # Parsed as every door parses declarations (gateway.declare); the kind is weighed against the form later.
    declared = declare.parse({"kind": args.kind, "copy_form": args.copy_form, "number": args.number,
                              "copying_agency": args.copying_agency})
    return Document(
        channel=channel,
        name=path.name,
        path=path.resolve(),
        kind=declared.kind or DocKind.CORRESPONDENCE,
        origin=Origin(path=str(path.resolve()), client=f"cli:{_user()}"),
        declared=declared,
    )


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def _reason_lines(reasons) -> list[str]:
    return ["    - " + render(r).line() for r in reasons]


class _Progress:
    """A plain-text progress bar on stderr (one line per document, so logs stay readable)."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self._lock = total, 0, threading.Lock()

    def step(self, name: str, label: str) -> None:
        with self._lock:
            self.done += 1
            width = 20
            filled = width * self.done // max(self.total, 1)
            bar = "#" * filled + "." * (width - filled)
            print(f"[{bar}] {self.done}/{self.total} {name}: {label}", file=sys.stderr, flush=True)


def _targets(dst: Path) -> tuple[Path, Path]:
    """The names an output may take: the document itself, and its detached signature."""
    return dst, dst.with_name(dst.name + ".p7s")


def _exists(dst: Path, src: Path) -> bool:
    """An output that would be replaced (the input itself, signed in place, does not count)."""
    same = dst.exists() and src.exists() and os.path.samefile(dst, src)
    return not same and any(p.exists() for p in _targets(dst))


def _place(result: Result, src: Path, dst: Path, *, replace: bool = True) -> Path | None:
    """Put what the pipeline produced where the user asked; nothing for refusals.

    Every file appears under its final name complete or not at all: written beside it, fsynced, renamed.
    Without `replace` a name that appeared meanwhile is not overwritten (FileExistsError).
    """
    if result.outcome is Outcome.SIGN and result.output is not None:
        out = result.output
        if out.detached:  # CAdES: the unchanged original travels with its .p7s
            target = dst.with_name(dst.name + ".p7s")
            _fsync(out.path)
            _publish(out.path, target, replace, move=True)  # the signature first, then its document
            _atomic_copy(src, dst, replace)
        else:
            target = dst
            _fsync(out.path)
            _publish(out.path, target, replace, move=True)
        _remove_empty(out.path.parent)
        return target
    if result.outcome is Outcome.PASS:
        _atomic_copy(src, dst, replace)
        return dst
    return None


def _publish(path: Path, target: Path, replace: bool, *, move: bool) -> None:
    """`path` (complete, fsynced) under the name `target`: a rename, or a copy to another filesystem."""
    if path.parent != target.parent:
        _atomic_copy(path, target, replace)
        if move:
            path.unlink()
    elif replace:
        os.replace(path, target)
    else:
        os.link(path, target)  # fails if the name exists: never replaced behind the user's back
        path.unlink()


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _atomic_copy(src: Path, dst: Path, replace: bool = True) -> None:
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(src, tmp)
        _fsync(tmp)
        _publish(tmp, dst, replace, move=False)
    finally:
        tmp.unlink(missing_ok=True)


def _remove_empty(d: Path) -> None:
    try:
        if d.name.startswith("out-"):
            d.rmdir()
    except OSError:
        pass


def cmd_sign(args) -> int:
    from gateway.cli.common import cli_logging
    from gateway.engine import Engine

    settings = settings_from(args)
    files = _inputs(args.inputs)
    if files is None:
        return EXIT_USAGE
    out = Path(args.output)
    many = len(files) > 1 or any(Path(i).is_dir() for i in args.inputs) or out.is_dir() or args.output.endswith("/")
    names = [f.name for f in files]
    if many and len(set(names)) < len(names):  # two inputs would be written to the same DIR/NAME
        dup = sorted({n for n in names if names.count(n) > 1})
        say(f"lỗi / error: trùng tên tệp trong thư mục ra / same file name twice in the output directory: "
            f"{', '.join(dup)}", file=sys.stderr)
        return EXIT_USAGE
    if many:
        out.mkdir(parents=True, exist_ok=True)
    elif not files:
        say("lỗi / error: không có tệp nào / no input file", file=sys.stderr)
        return EXIT_USAGE
    elif _exists(out, files[0]) and not args.overwrite:
        say("lỗi / error: " + render(Reason.of("OUTPUT_EXISTS", path=out)).line(), file=sys.stderr)
        return EXIT_USAGE
    workers = args.workers if args.workers is not None else (1 if len(files) == 1 else settings.signing.workers)
    workers = min(workers, max(len(files), 1))
    rows: list[dict] = []
    progress = _Progress(len(files))
    todo = []
    for path in files:
        dst = out / path.name if many else out
        if many and not args.overwrite and _exists(dst, path):
            rows.append(_skipped_row(path, dst))  # decided nothing, signed nothing: no record either
            progress.step(path.name, SKIPPED_LABEL)
        else:
            todo.append((path, dst))
    with Engine(settings, workers=workers, cli_logging=cli_logging(args, settings)) as engine:

        def one(path: Path, dst: Path) -> dict:
            try:
                # the output is made in the destination folder, so placing it is one rename
                result = engine.process(_document(path, args), out_dir=dst.parent)
                placed = _place(result, path, dst, replace=args.overwrite or not many)
                row = _row(path, result, CHECK=False)
                row["output"] = str(placed) if placed else None
            except GatewayError as exc:
                row = _error_row(path, exc)
            except FileExistsError:  # appeared while this one was being signed: still not overwritten
                row = _skipped_row(path, dst)
            except OSError as exc:  # the output folder: full, read-only, gone — this file is not done
                row = _error_row(path, StorageUnavailable(f"cannot write {dst}: {exc.strerror}"))
            progress.step(path.name, row["label"])
            return row

        with ThreadPoolExecutor(max_workers=max(workers, 1)) as pool:
            futures = [pool.submit(one, f, d) for f, d in todo]
            rows += [f.result() for f in as_completed(futures)]
    rows.sort(key=lambda r: files.index(Path(r["file"])))
    _report(rows, args.json, summary=True)
    return _exit(rows)


def cmd_check(args) -> int:
    from gateway.pipeline import Pipeline

    settings = settings_from(args)
    files = _inputs(args.inputs)
    if files is None:
        return EXIT_USAGE
    channel = Channel(args.channel)
    rows = []
    with Pipeline(settings) as pipeline:
        for path in files:
            try:
                rows.append(_row(path, pipeline.check(_document(path, args, channel)), CHECK=True))
            except GatewayError as exc:
                rows.append(_error_row(path, exc))
    _report(rows, args.json, summary=len(rows) > 1)
    return _exit(rows)


def _row(path: Path, result: Result, *, CHECK: bool) -> dict:
    d = result.decision
    return {
        "file": str(path),
        "outcome": str(d.outcome),
        "label": (CHECK_LABELS if CHECK else LABELS)[d.outcome],
        "reasons": [render(r).as_dict() for r in d.reasons],
        "warnings": [render(r).as_dict() for r in result.warnings],
        "policy": {"id": d.policy_id, "version": d.policy_version},
        "record_id": result.record_id,
        "dry_run": result.dry_run,
        # a container's members (archive entries, files embedded in a PDF), each with its own decision
        "members": [{"name": m.name, "role": m.role, "outcome": str(m.outcome), "signed": m.signed,
                     "label": (CHECK_LABELS if CHECK else LABELS)[m.outcome],
                     "reasons": [render(r).as_dict() for r in m.reasons]} for m in result.members],
        "_reasons": d.reasons,
        "_warnings": result.warnings,
    }


def _error_row(path: Path, exc: GatewayError) -> dict:
    permanent = isinstance(exc, PermanentError)
    return {
        "file": str(path),
        "outcome": "reject" if permanent else TEMPORARY,
        "label": "TỪ CHỐI / REJECTED" if permanent else "LỖI TẠM THỜI, THỬ LẠI / TEMPORARY FAILURE, TRY AGAIN",
        "reasons": [render(exc.reason).as_dict()],
        "warnings": [],
        "_reasons": (exc.reason,),
        "_warnings": (),
    }


def _skipped_row(path: Path, dst: Path) -> dict:
    return {
        "file": str(path),
        "outcome": SKIPPED,
        "label": SKIPPED_LABEL,
        "output": None,
        "existing": str(dst),
        "reasons": [],
        "warnings": [],
        "_reasons": (),
        "_warnings": (),
    }


def _report(rows: list[dict], as_json: bool, *, summary: bool) -> None:
    if as_json:
        print(json.dumps([{k: v for k, v in r.items() if not k.startswith("_")} for r in rows],
                         ensure_ascii=False, indent=2))
        return
    for r in rows:
        say(f"{r['file']}: {r['label']}" + (f" -> {r['output']}" if r.get("output") else "")
            + (f" ({r['existing']})" if r.get("existing") else ""))
        say(*_reason_lines(r["_reasons"]))
        for m in r.get("members", ()):  # one line per member of a container: what happened inside
            say(f"    · {m['name']}: {m['label']}")
        if r["_warnings"]:
            say("    cảnh báo / warnings:", *_reason_lines(r["_warnings"]))
    if summary:
        kinds = ("sign", "pass", "reject", "block", TEMPORARY, SKIPPED)
        counts = {k: sum(1 for r in rows if r["outcome"] == k) for k in kinds}
        say(
            f"Tổng cộng / total {len(rows)}: ký số / signed {counts['sign']}, "
            f"chuyển tiếp / passed {counts['pass']}, từ chối / rejected {counts['reject']}, "
            f"chặn / blocked {counts['block']}, lỗi tạm thời / temporary {counts[TEMPORARY]}"
            + (f", bỏ qua vì đã có / skipped, already there {counts[SKIPPED]} (--overwrite)" if counts[SKIPPED] else "")
        )


def _exit(rows: list[dict]) -> int:
    outcomes = {r["outcome"] for r in rows}
    if TEMPORARY in outcomes:
        return EXIT_TEMPORARY
    if outcomes & {"reject", "block"}:
        return EXIT_REFUSED
    return EXIT_OK
