"""Issue 17, done when: the shared corpus runs through `check` and `sign`.

Every signed output is valid and trusted by pdfsig, has the input's page count (pdfinfo) and keeps its text
(pdftotext: every character of the input; pdfium: every word of the pages' own content). Every refusal is a decision with its reason (a TemporaryError fails the test: nothing here
may be "try again"). `check` and `sign` agree on every file.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from util import pdfsig

from gateway.audit import AuditLog
from gateway.model import Channel, DocKind, Document, Outcome
from gateway.pipeline import Pipeline

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
if not CORPUS.is_dir():
    CORPUS = Path("/work/shared/corpus")

pytestmark = [pytest.mark.skipif(not (CORPUS / "pdf").is_dir(), reason="shared corpus not present"), pytest.mark.hsm,
              pytest.mark.slow]

_SKIP = re.compile("[\\s\u200e\u200f\u202a-\u202e\u2066-\u2069]+")


def _text(path: Path) -> str | None:
    res = subprocess.run(["pdftotext", "-q", "-enc", "UTF-8", str(path), "-"], capture_output=True, timeout=120)
    return res.stdout.decode("utf-8", "replace") if res.returncode == 0 else None


def _pages(path: Path) -> int | None:
    res = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, timeout=120)
    m = re.search(r"^Pages:\s+(\d+)", res.stdout, re.M)
    return int(m.group(1)) if m else None


def _page_words(path: Path) -> Counter | None:
    """The words of the pages' own content (pdfium: annotations such as the signature block not included)."""
    import pypdfium2

    try:
        pdf = pypdfium2.PdfDocument(str(path))
    except Exception:  # noqa: BLE001 - pdfium cannot open the input: nothing to compare with it
        return None
    try:
        words: Counter = Counter()
        for i in range(len(pdf)):
            page = pdf[i]
            words.update(_SKIP.sub(" ", page.get_textpage().get_text_range()).split())
        return words
    finally:
        pdf.close()


def text_lost(src: Path, out: Path) -> tuple[Counter, list[str]]:
    """(characters of the input missing from the output's text, per poppler; words of the input's pages missing
    from the output's pages, per pdfium). pdftotext joins the signature block's lines into a page's text and
    reorders right-to-left runs, so its words are compared as characters."""
    before, after = _text(src), _text(out)
    chars: Counter = Counter()
    if before is not None:
        assert after is not None, "poppler reads the input but not the output"
        chars = Counter(_SKIP.sub("", before)) - Counter(_SKIP.sub("", after))
    wb, wa = _page_words(src), _page_words(out)
    words = sorted((wb - wa).elements()) if wb is not None and wa is not None else []
    return chars, words


def test_corpus_check_and_sign_agree_and_outputs_are_faithful(dev_settings, tmp_path, capsys):
    files = sorted((CORPUS / "pdf").glob("*.pdf"))
    assert len(files) >= 80
    nss = dev_settings.paths.nssdb
    problems: list[str] = []
    counts: Counter = Counter()
    with AuditLog.at(tmp_path / "log.sqlite3") as audit, Pipeline(dev_settings, audit=audit) as p:
        for f in files:
            doc = lambda: Document(Channel.CLI, f.name, path=f, kind=DocKind.CORRESPONDENCE)  # noqa: E731
            checked = p.check(doc())
            signed = p.process(doc(), out_dir=tmp_path / "out")
            counts[str(signed.outcome)] += 1
            c = (checked.outcome, [r.code for r in checked.decision.reasons])
            s = (signed.outcome, [r.code for r in signed.decision.reasons])
            if c != s:
                problems.append(f"{f.name}: check {c} != sign {s}")
            if signed.outcome is not Outcome.SIGN:
                if signed.output is not None or not signed.decision.reasons:
                    problems.append(f"{f.name}: refused without a reason, or with an output")
                continue
            out = signed.output.path
            sigs = pdfsig(out, nss)
            if not (sigs and sigs[-1]["valid"] and sigs[-1]["trusted"] and sigs[-1]["total_document"]):
                problems.append(f"{f.name}: pdfsig {sigs[-1] if sigs else 'no signature'}")
            pin = _pages(f)
            if pin is not None and _pages(out) != pin:
                problems.append(f"{f.name}: pages {pin} -> {_pages(out)}")
            chars, words = text_lost(f, out)
            if chars or words:
                problems.append(f"{f.name}: text lost {dict(chars)} {words[:5]}")
            out.unlink()
    with capsys.disabled():
        print(f"\ncorpus: {dict(counts)}")
    assert not problems, "\n".join(problems)
    assert counts["sign"] >= 45  # what poppler reads and nothing forbids is signed, not refused
