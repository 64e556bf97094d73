"""The new types of issue 12 (archives, TNEF, PDFs carrying files), made with the real tools, through every
door of one `gateway run` and the CLI: the doors agree, and what they release is signed. (The shared corpus
through every door is in tests/test_corpus.py, beside the corpus's dry run it is compared with.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gw_harness import wait_until
from gateway.model import Channel, Document
from gateway.pipeline import Pipeline

pytestmark = [pytest.mark.slow, pytest.mark.hsm]


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
    http = {n: g.http_outcome(data) for n, (data, _) in cases.items()}
    wait_until(lambda: all(g.folder_outcome(n) != "queued" for n in cases), timeout=180, interval=0.5,
               what="every container out of the folder queue")
    folder = {n: g.folder_outcome(n) for n in cases}
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
