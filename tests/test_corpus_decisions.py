"""Every PDF of the shared corpus gets a decision with a reason, and nothing crashes (dry run: no signing)."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import pytest

from gateway.audit import AuditLog
from gateway.model import Channel, DocKind, Document, Outcome
from gateway.pipeline import Pipeline

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
if not CORPUS.is_dir():
    CORPUS = Path("/work/shared/corpus")

pytestmark = pytest.mark.skipif(not (CORPUS / "pdf").is_dir(), reason="shared corpus not present")


def manifest() -> dict[str, list[str]]:
    with open(CORPUS / "pdf-manifest.tsv", encoding="utf-8") as fh:
        return {Path(r["file"]).name: r["classes"].split(",") for r in csv.DictReader(fh, delimiter="\t")}


def test_every_corpus_pdf_gets_a_decision(dev_settings, tmp_path, capsys):
    classes = manifest()
    files = sorted((CORPUS / "pdf").glob("*.pdf"))
    assert len(files) >= 80
    per_class: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    with AuditLog.at(tmp_path / "log.sqlite3") as audit, Pipeline(dev_settings, audit=audit) as p:
        for f in files:
            doc = Document(Channel.FOLDER, f.name, path=f, kind=DocKind.ATTACHMENT)
            res = p.process(doc, dry_run=True)
            assert res.decision.reasons, f.name
            assert res.record_id is not None
            # What the manifest says is fatal must never come out as sign/pass.
            cls = set(classes.get(f.name, ["?"]))
            if cls & {"encrypted-password", "encrypted-pubkey", "encrypted-unreadable", "certified-P1"}:
                assert res.outcome is Outcome.REJECT, (f.name, res.decision)
            for c in cls:
                per_class[c][str(res.outcome)] += 1
        assert audit.verify().count == len(files)
    with capsys.disabled():
        print("\nclass                 sign  pass  reject  block")
        for c in sorted(per_class):
            n = per_class[c]
            print(f"{c:20s} {n['sign']:5d} {n['pass']:5d} {n['reject']:7d} {n['block']:6d}")
