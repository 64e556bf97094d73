"""Every file of ../shared/corpus through every door of one `gateway run`: the pipeline (dry run, as
`gateway check`), HTTP, the watched folder and SMTP (each PDF attached to a mail; each .eml as it is).

Asserted: every input is answered (no crash, no hang, no 500), nothing stays queued, and the doors agree with
each other on accept vs refuse (the portal may refuse more: JavaScript, internal circulation); a dry run may
differ only where signing itself finds the file unwritable. Printed: a
table of outcomes per manifest class and door (copied into docs/hardening-results.md).
"""

from __future__ import annotations

import collections
import csv
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from gw_harness import mail_with_pdf, wait_until
from gateway.model import Channel, Document
from gateway.pipeline import Pipeline

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"
pytestmark = [pytest.mark.slow, pytest.mark.hsm,
              pytest.mark.skipif(not (CORPUS / "pdf").is_dir(), reason="corpus not present")]


def _manifest(name: str) -> list[tuple[Path, list[str]]]:
    with open(CORPUS / name, newline="") as fh:
        return [(CORPUS / r["file"], r["classes"].split(",")) for r in csv.DictReader(fh, delimiter="\t")]


def _http(g, data: bytes) -> str:
    r = g.post(data, timeout=120)
    if r.status_code == 200:
        return r.headers.get("x-kyso-outcome", "ok").lower()
    if r.status_code == 422:
        return "block" if r.json().get("code") == "SECRET_MARKED" else "reject"
    return f"http{r.status_code}"


def _smtp(g, raw: bytes) -> str:
    code, text = g.send_mail(raw, timeout=120)
    return {250: "relayed", None: "no-answer"}.get(code, f"smtp{code}")


def _folder(g, name: str) -> str:
    f = g.folders
    for where, label in (("signed", "signed"), ("quarantine", "block"), ("rejected", "reject")):
        if any(p.name.startswith(name) for p in (f / where).iterdir()):
            return label
    return "queued"


def test_corpus_through_every_door(private_dev_settings, gateway_process, tmp_path):
    s = private_dev_settings
    pdfs = _manifest("pdf-manifest.tsv")
    emls = _manifest("eml-manifest.tsv")
    with Pipeline(s) as p:
        cli = {path.name: str(p.check(Document(channel=Channel.CLI, name=path.name, path=path)).outcome)
               for path, _ in pdfs}
    g = gateway_process(s, workers=2)
    t0 = time.monotonic()
    names = {path.name: f"c{i:03d}.pdf" for i, (path, _) in enumerate(pdfs)}  # short names in the inbox
    for path, _ in pdfs:
        g.drop_file(names[path.name], path.read_bytes())
    with ThreadPoolExecutor(4) as pool:
        http = dict(zip([p.name for p, _ in pdfs], pool.map(lambda pc: _http(g, pc[0].read_bytes()), pdfs)))
        smtp = dict(zip([p.name for p, _ in pdfs],
                        pool.map(lambda pc: _smtp(g, mail_with_pdf(pc[0].read_bytes(), name=pc[0].name[-60:])), pdfs)))
        eml = dict(zip([p.name for p, _ in emls], pool.map(lambda pc: _smtp(g, pc[0].read_bytes()), emls)))
    wait_until(lambda: all(_folder(g, n.removesuffix(".pdf")) != "queued" for n in names.values()), timeout=180,
               interval=0.5, what="every corpus file out of the folder queue")
    folder = {orig: _folder(g, short.removesuffix(".pdf")) for orig, short in names.items()}
    took = time.monotonic() - t0
    assert g.stop() == 0

    table: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for path, classes in pdfs:
        n = path.name
        for c in classes:
            table[c][f"cli:{cli[n]}"] += 1
            table[c][f"http:{http[n]}"] += 1
            table[c][f"folder:{folder[n]}"] += 1
            table[c][f"smtp:{smtp[n]}"] += 1
    for path, classes in emls:
        for c in classes:
            table[f"eml:{c}"][f"smtp:{eml[path.name]}"] += 1
    print(f"\ncorpus: {len(pdfs)} PDFs x 4 doors + {len(emls)} mails in {took:.0f} s")
    print("class | outcomes")
    for c in sorted(table):
        print(f"{c} | " + ", ".join(f"{k} {v}" for k, v in sorted(table[c].items())))
    totals = collections.Counter()
    for d, res in (("cli", cli), ("http", http), ("folder", folder), ("smtp", smtp), ("eml", eml)):
        for v in res.values():
            totals[f"{d}:{v}"] += 1
    print("totals:", dict(sorted(totals.items())))

    assert not [v for v in http.values() if v.startswith("http")], http  # only 200 / 422: decided, not 5xx
    assert not [v for v in {**smtp, **eml}.values() if v in ("no-answer", "smtp451", "smtp421")]
    assert "queued" not in folder.values()
    disagree, dry_run_differs = [], []
    for path, _ in pdfs:
        n = path.name
        accepted = folder[n] == "signed"
        if (smtp[n] == "relayed") != accepted or (http[n] in ("sign", "pass") and not accepted):
            disagree.append((n, folder[n], smtp[n], http[n]))  # the portal may refuse more, never less
        if (cli[n] in ("sign", "pass")) != accepted:
            dry_run_differs.append((n, cli[n], folder[n]))  # a dry run cannot know what only signing finds
    print("dry run (gateway check) vs real signing:", dry_run_differs or "same")
    assert not disagree, disagree
    assert len(dry_run_differs) <= 2, dry_run_differs
