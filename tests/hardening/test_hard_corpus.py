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


# --- the new types (issue 12): archives, TNEF, PDFs carrying files — through the folder, the portal, the CLI --


def _containers(d: Path) -> dict[str, tuple[bytes, str]]:
    """Generated with the real tools: name -> (bytes, expected outcome). SMTP carries them once the mail door
    reads whole messages (mail lane)."""
    import gzip as gz
    import subprocess

    from container_support import make_mat_pdf, seven_zip, tar_tool, zip_tool
    from pypdf import PdfWriter
    from util import make_pdf

    from gateway.signing import container_tnef

    src = d / "src"
    make_pdf(src / "a.pdf")
    make_pdf(src / "b.pdf", lines=["Công văn", "Số: 8/UBND-VP"])
    make_mat_pdf(src / "mat.pdf")
    (src / "z.bin").write_bytes(bytes(20 * 1024 * 1024))
    out: dict[str, tuple[bytes, str]] = {}

    def put(name: str, path: Path, outcome: str) -> None:
        out[name] = (path.read_bytes(), outcome)

    put("ok.zip", zip_tool(d / "ok.zip", src, ["a.pdf", "b.pdf"]), "sign")
    put("mat.zip", zip_tool(d / "mat.zip", src, ["a.pdf", "mat.pdf"]), "block")
    subprocess.run(["zip", "-q", "-P", "mk", str(d / "enc.zip"), "a.pdf"], cwd=src, check=True)
    put("enc.zip", d / "enc.zip", "reject")
    put("bomb.zip", zip_tool(d / "bomb.zip", src, ["z.bin"], "-9"), "reject")
    put("ok.tar.gz", tar_tool(d / "ok.tar.gz", src, ["a.pdf", "b.pdf"], "-z"), "sign")
    put("mat.tar.xz", tar_tool(d / "mat.tar.xz", src, ["mat.pdf"], "-J"), "block")
    put("ok.7z", seven_zip(d / "ok.7z", src, ["a.pdf", "b.pdf"]), "sign")
    put("enc.7z", seven_zip(d / "enc.7z", src, ["a.pdf"], "-pmk", "-mhe=on"), "reject")
    (d / "a.pdf.gz").write_bytes(gz.compress((src / "a.pdf").read_bytes()))
    put("a.pdf.gz", d / "a.pdf.gz", "sign")
    (d / "winmail.dat").write_bytes(container_tnef.message("Công văn", "", [("a.pdf", (src / "a.pdf").read_bytes())]))
    put("winmail.dat", d / "winmail.dat", "sign")
    (d / "mat.dat").write_bytes(container_tnef.message("Thư", "", [("mat.pdf", (src / "mat.pdf").read_bytes())]))
    put("mat.dat", d / "mat.dat", "block")
    w = PdfWriter(clone_from=src / "a.pdf")
    w.add_attachment("mat.pdf", (src / "mat.pdf").read_bytes())
    w.write(d / "carrier.pdf")
    put("carrier.pdf", d / "carrier.pdf", "block")
    (d / "x.rar").write_bytes(b"Rar!\x1a\x07\x01\x00" + bytes(64))
    put("x.rar", d / "x.rar", "reject")
    return out


def test_containers_through_every_door(private_dev_settings, gateway_process, tmp_path):
    import subprocess

    from container_support import unzip_all
    from gw_harness import GATEWAY, ROOT
    from util import pdfsig

    s = private_dev_settings
    cases = _containers(tmp_path / "made")
    files = tmp_path / "files"
    files.mkdir()
    for name, (data, _) in cases.items():
        (files / name).write_bytes(data)
    with Pipeline(s) as p:
        check = {n: str(p.check(Document(channel=Channel.CLI, name=n, path=files / n)).outcome) for n in cases}
    g = gateway_process(s, workers=2)
    # the CLI signs into a folder of its own (a separate process, same var dir, like an operator would)
    signed_dir = tmp_path / "cli-out"
    cli = subprocess.run([str(GATEWAY), "sign", *[str(files / n) for n in cases], "-o", str(signed_dir) + "/",
                          "--json"], cwd=ROOT, env=g.env, capture_output=True, text=True, timeout=300)
    import json

    rows = {Path(r["file"]).name: r for r in json.loads(cli.stdout)}
    for name, (data, _) in cases.items():
        g.drop_file(name, data)
    http = {n: _http(g, data) for n, (data, _) in cases.items()}
    wait_until(lambda: all(_folder(g, n) != "queued" for n in cases), timeout=180, interval=0.5,
               what="every container out of the folder queue")
    folder = {n: _folder(g, n) for n in cases}
    portal_zip = g.post(cases["ok.zip"][0], headers={"Content-Type": "application/zip"}, timeout=120)
    assert g.stop() == 0

    print("\ncontainer | expected | check | cli | folder | http")
    for n, (_, want) in cases.items():
        print(f"{n} | {want} | {check[n]} | {rows[n]['outcome']} | {folder[n]} | {http[n]}")
    for n, (_, want) in cases.items():
        assert check[n] == want, (n, check[n])
        assert rows[n]["outcome"] == want, (n, rows[n]["outcome"], rows[n]["reasons"])
        assert folder[n] == {"sign": "signed", "block": "block", "reject": "reject"}[want], (n, folder[n])
        assert http[n] == want, (n, http[n])
    # what each door released is the rebuilt archive, each PDF inside signed and trusted
    for where in (signed_dir / "ok.zip", g.folders / "signed" / "ok.zip"):
        x = unzip_all(where, tmp_path / f"x-{where.parent.name}")
        for pdf in ("a.pdf", "b.pdf"):
            sig = pdfsig(x / pdf, s.paths.nssdb)
            assert len(sig) == 1 and sig[0]["valid"] and sig[0]["trusted"], (where, pdf)
    assert portal_zip.status_code == 200 and portal_zip.headers["x-kyso-outcome"] == "sign"
    (tmp_path / "portal.zip").write_bytes(portal_zip.content)
    x = unzip_all(tmp_path / "portal.zip", tmp_path / "x-portal")
    assert pdfsig(x / "a.pdf", s.paths.nssdb)[0]["valid"]
    # the clerk's note names the member that was refused, and nothing secret stays in rejected/
    note = (g.folders / "rejected" / "enc.zip.ly-do.txt").read_text(encoding="utf-8")
    assert "CONTAINER_ENCRYPTED" in note and "a.pdf" in note
    mat_note = (g.folders / "rejected" / "mat.zip.ly-do.txt").read_text(encoding="utf-8")
    assert "mat.pdf" in mat_note and "SECRET_MARKED" in mat_note
    assert not (g.folders / "rejected" / "mat.zip").exists()
