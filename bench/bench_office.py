"""The office reader's speed: a text-only .docx of a given size (5 MB by default: the mail bench's row), an
.xlsx, and the same .xlsx with a text formula in every row (`=IF(B1>=5,"Đạt","Không đạt")`: LibreOffice
recalculates the workbook, and its cells are read too), read by the gateway (`gateway.inspect.inspect`: sniff + every part + marks) against baselines
measured in the same run:
  unzip          decompressing every part of the package (zipfile): the floor any reader pays
  python-docx    python-docx opening the file and joining its body paragraphs (a reader that reads far
                 less: no headers, comments, text boxes, notes, properties)
  reader         gateway.inspect.office.read alone: every part, every line (the office lane's part)
  gateway        inspect(): sniff, read every part, secrecy/box-11 marks, Decree 30 form (the whole inspection)
Figures: seconds, seconds per MB of the file, ratios reader/unzip, reader/python-docx, gateway/reader.
No speed asserted.

    .venv/bin/python -m bench.bench_office [--smoke] [--mb 5] [--repeat 3]

`make_docx(path, size_bytes)` is shared with the SMTP bench (a mail carrying a 5 MB .docx).
"""

from __future__ import annotations

import random
import statistics
import time
import zipfile
from pathlib import Path

from bench.common import MB, arg_parser, print_table, ratio, write_json

NAME = "office"
_WORDS = ("báo cáo tình hình thực hiện nhiệm vụ kế hoạch năm quý sở ban ngành ủy ban nhân dân tỉnh huyện xã "
          "văn bản quyết định công văn tờ trình kính gửi căn cứ luật nghị định thông tư hướng dẫn triển khai "
          "đơn vị cơ quan tổ chức cá nhân số liệu kết quả đánh giá đề xuất kiến nghị").split()


def make_docx(path: Path, size_bytes: int, seed: int = 7) -> Path:
    """A text-only .docx of about `size_bytes`, no pictures, no mark: python-docx writes the package (with a
    header and a footer), then its body gets paragraphs of Vietnamese words in random order (python-docx's
    own add_paragraph is quadratic in the document's length)."""
    import docx
    from xml.sax.saxutils import escape

    rnd = random.Random(seed)
    d = docx.Document()
    d.sections[0].header.paragraphs[0].text = "ỦY BAN NHÂN DÂN TỈNH — Báo cáo"
    d.sections[0].footer.paragraphs[0].text = "Trang"
    d.add_paragraph("MARKER")
    raw = path.with_suffix(".raw.docx")
    d.save(raw)
    with zipfile.ZipFile(raw) as z:
        document = z.read("word/document.xml").decode()
    head, tail = document.split("<w:p>", 1)[0], document[document.index("<w:sectPr"):]
    # Random words from a small vocabulary compress about 5.6x in the package.
    paragraphs, total = [], 0
    while total < size_bytes * 5.6:
        text = escape(" ".join(rnd.choice(_WORDS) for _ in range(40)) + ".")
        para = f'<w:p><w:r><w:t xml:space="preserve">{text}</w:t></w:r></w:p>'
        paragraphs.append(para)
        total += len(para.encode())
    with zipfile.ZipFile(raw) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "word/document.xml":
                data = (head + "".join(paragraphs) + tail).encode()
            zout.writestr(info.filename, data)
    raw.unlink()
    return path


def make_xlsx(path: Path, rows: int, seed: int = 7, formulas: bool = False) -> Path:
    import openpyxl

    rnd = random.Random(seed)
    wb = openpyxl.Workbook()
    ws = wb.active
    for r in range(rows):
        ws.append([r, rnd.random(), " ".join(rnd.choice(_WORDS) for _ in range(6)), rnd.choice(_WORDS)]
                  + ([f'=IF(A{r + 1}>=5,"Đạt","Không đạt")'] if formulas else []))
    wb.save(path)
    return path


def _unzip(path: Path) -> None:
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            z.read(info.filename)


def _python_docx(path: Path) -> None:
    import docx

    "\n".join(p.text for p in docx.Document(str(path)).paragraphs)


def _work(settings):
    """The work directory a pipeline gives its readers (LibreOffice's files go there)."""
    from gateway.inspect.members import Extraction

    return Extraction.under(Path(settings.var_dir) / "work", settings)


def _gateway(path: Path, settings) -> object:
    from gateway.inspect import inspect
    from gateway.model import Channel, Document

    work = _work(settings)
    try:
        return inspect(Document(Channel.SMTP, path.name, path=path), settings, None, work)
    finally:
        work.close()


def _reader(path: Path, settings) -> object:
    import importlib

    from gateway.inspect import office

    S = importlib.import_module("gateway.inspect.sniff")
    work = _work(settings)
    try:
        with open(path, "rb") as fh:
            media = S.sniff_file(fh)
            fh.seek(0)
            return office.read(fh, media, settings, ex=work.child())
    finally:
        work.close()


def _time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None) -> int:
    p = arg_parser(__doc__.splitlines()[0])
    p.add_argument("--mb", type=float, default=5.0)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    mb = 0.3 if args.smoke else args.mb
    repeat = 1 if args.smoke else args.repeat
    from gateway.settings import load_settings

    work = args.out / "office"
    work.mkdir(parents=True, exist_ok=True)
    settings = load_settings(var_dir=work / "var")
    docx_path = make_docx(work / f"bao-cao-{mb:g}mb.docx", int(mb * MB))
    xlsx_path = make_xlsx(work / "so-lieu.xlsx", 2000 if args.smoke else 50_000)
    formulas_path = make_xlsx(work / "ket-qua.xlsx", 2000 if args.smoke else 50_000, formulas=True)
    results: dict = {}
    rows = []
    for label, path in (("docx", docx_path), ("xlsx", xlsx_path), ("xlsx_formulas", formulas_path)):
        size_mb = path.stat().st_size / MB
        unzip_s = _time(lambda: _unzip(path), repeat)
        reader_s = _time(lambda: _reader(path, settings), repeat)
        t0 = time.perf_counter()
        facts = _gateway(path, settings)  # once: the marks scan dominates and is the same every time
        gw_s = time.perf_counter() - t0
        entry = {"file_mb": size_mb, "unzip_s": unzip_s, "reader_s": reader_s, "reader_s_per_mb": reader_s / size_mb,
                 "gateway_s": gw_s, "gateway_s_per_mb": gw_s / size_mb, "signable": str(facts.signable),
                 "incomplete": [r.code for r in facts.incomplete], "reader_vs_unzip": ratio(reader_s, unzip_s),
                 "gateway_vs_reader": ratio(gw_s, reader_s)}
        pd = "-"
        if label == "docx":
            pd_s = _time(lambda: _python_docx(path), repeat)
            entry["python_docx_s"] = pd_s
            entry["reader_vs_python_docx"] = ratio(reader_s, pd_s)
            pd = round(ratio(reader_s, pd_s), 2)
        results[label] = entry
        rows.append([label, round(size_mb, 2), round(unzip_s, 3), round(reader_s, 3), round(reader_s / size_mb, 3),
                     round(ratio(reader_s, unzip_s), 1), pd, round(gw_s, 2), round(ratio(gw_s, reader_s), 1)])
    print_table("office reader (median of %d; gateway once)" % repeat,
                ["file", "MB", "unzip s", "reader s", "reader s/MB", "rd/unzip", "rd/python-docx", "gateway s",
                 "gw/reader"], rows)
    write_json(args.out, NAME, {"smoke": args.smoke, "results": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
