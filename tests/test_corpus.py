"""Every PDF of the shared corpus, in one module so that one test process reads them (a picture's OCR is read
once per process: the corpus's scans cost one reading here, not four):
- inspect(): no crash, and facts consistent with each file's classes (was tests/test_inspect.py);
- a dry run (once, a module fixture): a decision with a reason for every file, nothing fatal signed (was
  tests/test_corpus_decisions.py);
- issue 12: the dry run, the portal, the watched folder and SMTP of one running gateway agree on every file;
- issue 17, done when: the corpus runs through `check` and `sign`. Every signed output is valid and trusted by
  pdfsig, has the input's page count (pdfinfo) and keeps its text (pdftotext: every character of the input;
  pdfium: every word of the pages' own content). Every refusal is a decision with its reason (a TemporaryError
  fails the test: nothing here may be "try again"). `check` and `sign` agree on every file.
"""

from __future__ import annotations

import csv
import re
import subprocess
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from util import pdfsig, shared_corpus

from gateway.audit import AuditLog
from gateway.inspect import inspect
from gateway.model import Channel, DocKind, Document, Outcome
from gateway.pipeline import Pipeline

CORPUS = shared_corpus()

# The module fixture reads the whole corpus once (minutes: real-world scans are OCR'd) within the time of the
# first test that asks for it: every test here gets 900 s.
pytestmark = [pytest.mark.skipif(not (CORPUS / "pdf").is_dir(), reason="shared corpus not present"),
              pytest.mark.timeout(900)]


def _classes() -> dict[str, set[str]]:
    with open(CORPUS / "pdf-manifest.tsv", encoding="utf-8") as fh:
        return {Path(r["file"]).name: set(r["classes"].split(",")) for r in csv.DictReader(fh, delimiter="\t")}


def test_every_corpus_pdf_gets_facts(corpus_checked, capsys):
    """No crash on any file; each gets facts consistent with its classes (the facts `inspect` gave the dry run
    below: the corpus is read once in this module). Prints classes -> facts."""
    manifest = _classes()
    files = sorted((CORPUS / "pdf").iterdir())
    assert len(files) >= 80
    _results, _log, facts = corpus_checked
    rows = []
    for p in files:
        classes = manifest.get(p.name, set())
        f = facts[p.name]
        assert f.is_pdf and f.size == p.stat().st_size, p.name
        readable = not f.broken and not (f.encrypted and f.page_count is None)
        if "signed" in classes and readable:
            assert f.signatures, p.name
            for s in f.signatures:
                assert not s.trusted  # none of them chains to our roots
        if "encrypted-password" in classes or "encrypted-pubkey" in classes:
            assert f.encrypted or f.broken, p.name
        if "encrypted-open" in classes:
            assert f.encrypted, p.name
        if "empty-sig-field" in classes and readable:
            assert f.empty_signature_fields, p.name
        for level in ("P1", "P2", "P3"):
            if f"certified-{level}" in classes and readable:
                assert f.docmdp_level == int(level[1]), p.name
        if classes <= {"plain", "text-vietnamese", "text-arabic", "text-cjk", "text-hebrew", "text-thai"}:
            assert not f.broken, p.name
        assert f.secrecy == (), p.name  # none of these public files carries a Vietnamese secrecy stamp
        sigs = "".join(
            ("V" if s.valid else "I" if not s.intact else "U") + ("c" if s.covers_whole_document else "-")
            for s in f.signatures
        )
        rows.append(
            f"{','.join(sorted(classes))[:58]:58} enc={int(f.encrypted)} brk={int(f.broken)} rec={int(f.recovered)} "
            f"pages={f.page_count} mdp={f.docmdp_level} js={int(f.javascript)} empty={len(f.empty_signature_fields)} "
            f"sigs={sigs or '-'} warn={','.join(sorted({w.code for w in f.warnings})) or '-'}"
        )
    with capsys.disabled():
        print("\n[corpus] classes -> facts (sigs: V valid / U untrusted / I not intact; c covers whole document)")
        print("\n".join(sorted(rows)))


@pytest.fixture(scope="module")
def corpus_checked(dev_settings, tmp_path_factory):
    """Every corpus PDF through `check` (the dry run) once, for the tests of this module: ({name: Result}, the
    log, {name: the Facts `inspect` gave the pipeline for it})."""
    import gateway.inspect as inspection

    log = tmp_path_factory.mktemp("corpus-check") / "log.sqlite3"
    results, facts = {}, {}

    def seen(doc, *args, **kwargs):
        f = inspect(doc, *args, **kwargs)
        facts.setdefault(doc.name, f)  # the file as sent (a repaired copy may be read after it)
        return f

    with pytest.MonkeyPatch.context() as mp, AuditLog.at(log) as audit, Pipeline(dev_settings, audit=audit) as p:
        mp.setattr(inspection, "inspect", seen)
        for f in sorted((CORPUS / "pdf").glob("*.pdf")):
            results[f.name] = p.check(Document(Channel.CLI, f.name, path=f, kind=DocKind.CORRESPONDENCE))
    return results, log, facts


def test_every_corpus_pdf_gets_a_decision(corpus_checked, capsys):
    classes = _classes()
    results, log, _facts = corpus_checked
    assert len(results) >= 80
    per_class: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for name, res in results.items():
        assert res.decision.reasons, name
        assert res.record_id is not None
        # What the manifest says is fatal must never come out as sign/pass.
        cls = classes.get(name, {"?"})
        if cls & {"encrypted-password", "encrypted-pubkey", "encrypted-unreadable", "certified-P1"}:
            assert res.outcome is Outcome.REJECT, (name, res.decision)
        for c in cls:
            per_class[c][str(res.outcome)] += 1
    with AuditLog.at(log) as audit:
        # one record per document and one per file embedded in it (two pdf.js forms carry a dozen each)
        assert audit.verify().count == len(results) + sum(len(r.members) for r in results.values())
    with capsys.disabled():
        print("\nclass                 sign  pass  reject  block")
        for c in sorted(per_class):
            n = per_class[c]
            print(f"{c:20s} {n['sign']:5d} {n['pass']:5d} {n['reject']:7d} {n['block']:6d}")


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


@pytest.mark.hsm
@pytest.mark.slow
def test_corpus_check_and_sign_agree_and_outputs_are_faithful(dev_settings, corpus_checked, tmp_path, capsys):
    files = sorted((CORPUS / "pdf").glob("*.pdf"))
    assert len(files) >= 80
    checks, _log, _facts = corpus_checked
    nss = dev_settings.paths.nssdb
    problems: list[str] = []
    counts: Counter = Counter()
    with AuditLog.at(tmp_path / "log.sqlite3") as audit, Pipeline(dev_settings, audit=audit) as p:
        for f in files:
            checked = checks[f.name]  # the dry run of the same document (same channel and kind)
            signed = p.process(Document(Channel.CLI, f.name, path=f, kind=DocKind.CORRESPONDENCE),
                               out_dir=tmp_path / "out")
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


# --- the shared corpus through every door of one `gateway run` (issue 12: the four doors agree) ---------------


def _manifest(name: str) -> list[tuple[Path, list[str]]]:
    with open(CORPUS / name, newline="", encoding="utf-8") as fh:
        return [(CORPUS / r["file"], r["classes"].split(",")) for r in csv.DictReader(fh, delimiter="\t")]


@pytest.mark.hsm
@pytest.mark.slow
def test_corpus_through_every_door(private_dev_settings, corpus_checked, gateway_process, capsys):
    """Every corpus file through HTTP, the watched folder and SMTP (each PDF attached to a mail; each .eml as it
    is) of one gateway (`gateway run`'s serve, on a thread here), against the dry run above (`gateway check`,
    the CLI door).

    Asserted: every input is answered (no crash, no hang, no 500), nothing stays queued, and the doors agree
    with each other on accept vs refuse (the portal may refuse more: JavaScript, internal circulation); a dry
    run may differ only where signing itself finds the file unwritable. Printed: a table of outcomes per
    manifest class and door (copied into docs/hardening-results.md)."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    from gw_harness import mail_with_pdf, wait_until

    pdfs = _manifest("pdf-manifest.tsv")
    emls = _manifest("eml-manifest.tsv")
    checks, _log, _facts = corpus_checked
    cli = {path.name: str(checks[path.name].outcome) for path, _ in pdfs}
    # The doors of `gateway run` (gateway.runtime.serve) on a thread of this process, one in-process worker: the
    # corpus was read by the dry run above in this process, and a running gateway answers the same bytes sent
    # again from the reading it kept (gateway.inspect.memo); a `gateway run` child read it all once more (3.5
    # minutes of OCR, a third of the suite's tail). Every door still parses, converts and decides on its own;
    # only the page reading is shared. The folder goes first, to the end, so that no post waits behind the queue.
    g = gateway_process(private_dev_settings, workers=1, in_process=True)  # its own var dir: folders, log
    t0 = time.monotonic()
    names = {path.name: f"c{i:03d}.pdf" for i, (path, _) in enumerate(pdfs)}  # short names in the inbox
    for path, _ in pdfs:
        g.drop_file(names[path.name], path.read_bytes())
    wait_until(lambda: all(g.folder_outcome(n.removesuffix(".pdf")) != "queued" for n in names.values()),
               timeout=800, interval=0.5, what="every corpus file out of the folder queue")
    with ThreadPoolExecutor(4) as pool:
        http = dict(zip([p.name for p, _ in pdfs], pool.map(lambda pc: g.http_outcome(pc[0].read_bytes()), pdfs)))
        smtp = dict(zip([p.name for p, _ in pdfs], pool.map(
            lambda pc: g.smtp_outcome(mail_with_pdf(pc[0].read_bytes(), name=pc[0].name[-60:])), pdfs)))
        eml = dict(zip([p.name for p, _ in emls], pool.map(lambda pc: g.smtp_outcome(pc[0].read_bytes()), emls)))
    folder = {orig: g.folder_outcome(short.removesuffix(".pdf")) for orig, short in names.items()}
    took = time.monotonic() - t0
    assert g.stop() == 0

    table: dict[str, Counter] = defaultdict(Counter)
    for path, classes in pdfs:
        n = path.name
        for c in classes:
            for door, res in (("cli", cli), ("http", http), ("folder", folder), ("smtp", smtp)):
                table[c][f"{door}:{res[n]}"] += 1
    for path, classes in emls:
        for c in classes:
            table[f"eml:{c}"][f"smtp:{eml[path.name]}"] += 1
    totals: Counter = Counter()
    for door, res in (("cli", cli), ("http", http), ("folder", folder), ("smtp", smtp), ("eml", eml)):
        totals.update(f"{door}:{v}" for v in res.values())
    disagree, dry_run_differs = [], []
    for path, _ in pdfs:
        n = path.name
        accepted = folder[n] == "signed"
        if (smtp[n] == "relayed") != accepted or (http[n] in ("sign", "pass") and not accepted):
            disagree.append((n, folder[n], smtp[n], http[n]))  # the portal may refuse more, never less
        if (cli[n] in ("sign", "pass")) != accepted:
            dry_run_differs.append((n, cli[n], folder[n]))  # a dry run cannot know what only signing finds
    with capsys.disabled():
        print(f"\ncorpus: {len(pdfs)} PDFs x 3 doors + {len(emls)} mails in {took:.0f} s (and the dry run above)")
        print("class | outcomes")
        for c in sorted(table):
            print(f"{c} | " + ", ".join(f"{k} {v}" for k, v in sorted(table[c].items())))
        print("totals:", dict(sorted(totals.items())))
        print("dry run (gateway check) vs real signing:", dry_run_differs or "same")

    assert len(pdfs) >= 80 and len(emls) >= 40
    assert not [v for v in http.values() if v.startswith("http")], http  # only 200 / 422: decided, not 5xx
    assert not [v for v in {**smtp, **eml}.values() if v in ("no-answer", "smtp451", "smtp421")]
    assert "queued" not in folder.values()
    assert not disagree, disagree
    assert len(dry_run_differs) <= 2, dry_run_differs
