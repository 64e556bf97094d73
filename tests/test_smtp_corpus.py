"""Every message of ../shared/corpus/eml through the door (real Engine, dev token) to a real sink.

Each one either arrives with every non-document part byte for byte as sent, or is refused with a reason code;
none crashes the server (the same connection keeps working after each message). Prints a per-class table.
"""

from __future__ import annotations

import collections
import csv
import re
import smtplib
from pathlib import Path

import pytest
from smtp_support import Gateway, LoopThread

from gateway.engine import Engine
from gateway.inspect import mime
from mail_support import gateway_documents
from util import shared_corpus

CORPUS = shared_corpus()
pytestmark = [pytest.mark.hsm, pytest.mark.skipif(not (CORPUS / "eml").is_dir(), reason="corpus not present")]


def corpus() -> list[tuple[Path, list[str]]]:
    with open(CORPUS / "eml-manifest.tsv", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return [(CORPUS / r["file"], r["classes"].split(",")) for r in rows]


def test_corpus_replay(dev_settings, tmp_path):
    loop = LoopThread()
    table: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    try:
        with Engine(dev_settings, workers=1) as engine:
            gw = Gateway(loop, dev_settings, engine, tmp_path / "sink")
            try:
                with smtplib.SMTP("127.0.0.1", gw.port, timeout=120) as c:
                    c.ehlo()
                    for path, classes in corpus():
                        outcome = replay_one(c, gw, path)
                        for cls in classes + ["(all)"]:
                            table[cls][outcome] += 1
                assert c.sock is None  # closed by the with-block: every message ran on ONE connection
            finally:
                gw.close()
    finally:
        loop.close()
    print_table(table)
    assert sum(table["(all)"].values()) == len(corpus())
    assert table["(all)"]["relayed"] >= len(corpus()) // 2  # most real mail has nothing to refuse


def replay_one(c: smtplib.SMTP, gw, path: Path) -> str:
    # What any MTA does to bare LF and lone CR: SMTP carries CR and LF only as CRLF (RFC 5321 2.3.8).
    raw = re.sub(rb"\r\n|\n|\r(?!\n)", b"\r\n", path.read_bytes())
    if not raw.endswith(b"\r\n"):
        raw += b"\r\n"
    before = set(gw.sink.messages())
    opts = ["BODY=8BITMIME"] + (["SMTPUTF8"] if not raw.isascii() else [])
    code, msg = c.mail("van.thu@so-a.gov.vn", opts)
    assert code == 250, (path.name, code, msg)
    assert c.rcpt("nhan@so-b.gov.vn")[0] == 250
    code, msg = c.data(raw)
    after = set(gw.sink.messages()) - before
    if code == 250:
        assert len(after) == 1, path.name
        out = after.pop().read_bytes()
        assert_unchanged_except_documents(raw, out, path.name)
        docs = gateway_documents(raw)
        return "relayed+signed" if docs else "relayed"
    assert not after, path.name  # refused: nothing reached the next hop
    assert code in (550, 552, 554), (path.name, code, msg)
    text = msg.decode("utf-8", "replace")
    assert re.search(r"\[[A-Z_]+", text), (path.name, text)  # a reason code, never a traceback
    c.rset()
    return f"refused {code} " + ",".join(sorted(set(re.findall(r"\[([A-Z_]+)", text))))


def assert_unchanged_except_documents(raw: bytes, out: bytes, name: str) -> None:
    """Every leaf (header block + body) of the input is in the output byte for byte, except PDFs signed in
    place (replaced by the same PDF with a signature appended); the output adds at most detached .p7s parts.
    Compared as multisets: an inserted sibling shifts positions."""
    before, after = mime.parse(mime.normalise(raw)), mime.parse(out)
    kept = collections.Counter((m.raw[p.start : p.body_start], m.raw[p.body_start : p.end]) for m, p in _leaves(before))
    got = collections.Counter((m.raw[p.start : p.body_start], m.raw[p.body_start : p.end]) for m, p in _leaves(after))
    changed, added = kept - got, got - kept
    for header, body in changed.elements():
        content = mime.decode_body(body, "base64" if b"base64" in header.lower() else "7bit")
        # a PDF signed in place, or a text whose uuencoded files were signed in place / got a .p7s beside
        assert mime.looks_like_pdf(content) or mime.uu_blocks(content), name
    replacements = [h for h, b in added.elements() if b"pkcs7-signature" not in h.lower()]
    assert len(replacements) == sum(changed.values()), name  # each changed leaf is replaced, once
    if not added:
        assert out == mime.normalise(raw), name


def _leaves(msg):
    for part in msg.parts:
        if part.inner is not None:
            yield from _leaves(part.inner)
        elif part.is_leaf:
            yield msg, part


def print_table(table) -> None:
    outcomes = sorted({o for c in table.values() for o in c})
    print("\n\nSMTP corpus replay: messages per class and outcome")
    print("class".ljust(26) + "".join(o[:38].ljust(40) for o in outcomes))
    for cls in sorted(table):
        print(cls.ljust(26) + "".join(str(table[cls][o]).ljust(40) for o in outcomes))
