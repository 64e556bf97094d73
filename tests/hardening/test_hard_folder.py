"""The folder door and hostile names: everything it writes stays inside its folders, whatever the file is
called (overlong, newline, leading dash, dot-dot prefixes, NFD Vietnamese), and a symlink dropped into the
inbox never makes it read (and sign, and publish into signed/) a file from elsewhere."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gw_harness import wait_until
from util import make_pdf

pytestmark = [pytest.mark.slow, pytest.mark.hsm]

# Dot names ("..x.pdf") are temp names by design (write ".x.part", then rename) and are left alone.
NAMES = ["a" * 240 + ".pdf", "dong\nmoi.pdf", "-rf.pdf", "a..b.pdf", "x\\..\\win.pdf",
         "Công văn số 1.pdf".encode("utf-8").decode("utf-8"), "Cong\u0302 va\u0306n.pdf", " khoang-trang .pdf"]


def _everything(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def test_odd_names_stay_inside_and_symlinks_are_not_followed(private_dev_settings, gateway_process, tmp_path):
    s = private_dev_settings
    g = gateway_process(s)
    pdf = make_pdf(tmp_path / "a.pdf").read_bytes()
    outside = tmp_path / "elsewhere"
    outside.mkdir(mode=0o700)
    private = make_pdf(outside / "private.pdf", lines=["Tài liệu nằm ngoài thư mục"])
    before_outside = _everything(tmp_path.parent)
    for i, name in enumerate(NAMES):
        g.drop_file(name, pdf)
    os.symlink("/etc", g.folders / "inbox" / "etc-link")  # a directory link: not walked into
    wait_until(lambda: not [p for p in (g.folders / "inbox").iterdir() if p.name in NAMES], timeout=60,
               what="odd names taken")
    wait_until(lambda: len([p for p in (g.folders / "signed").iterdir() if p.suffix == ".pdf"]) >= len(NAMES),
               timeout=60, what="odd names delivered")
    import time

    time.sleep(2)  # the link's turn, if it were to be taken
    signed = {p.name for p in (g.folders / "signed").iterdir()}
    assert g.stop() == 0
    # Every output is a direct child of signed/ and every odd name arrived (maybe made safe, never elsewhere).
    escaped = [p for p in _everything(tmp_path.parent) - before_outside
               if not str(p).startswith(str(s.var_dir)) and not str(p).startswith(str(tmp_path / "gw-logs"))]
    print(f"\nodd names: {len(NAMES)} dropped, {len(signed)} in signed/; written outside var: {escaped or 'nothing'}; "
          f"outside file untouched: {private.exists()}")
    assert not escaped
    assert private.exists() and private.read_bytes().startswith(b"%PDF")
    assert len([n for n in signed if n.endswith(".pdf")]) == len(NAMES) and not any("etc" in n for n in signed)


def test_symlink_in_inbox_is_not_taken(dev_settings, tmp_path):
    """A link to a readable PDF elsewhere (say another watch's quarantine) must never be claimed, signed and
    published into signed/ (it was, through gateway run, until d70923c)."""
    from gateway.folderwatch.layout import resolve_watches
    from gateway.folderwatch.scanner import scan
    from gateway.settings import FolderWatch

    s = dev_settings.model_copy(deep=True)
    f = tmp_path / "folders"
    s.folders.watches = [FolderWatch(name="t", inbox=f / "inbox", signed=f / "signed", rejected=f / "rejected")]
    s.folders.work_dir = f / ".work"
    (watch,) = resolve_watches(s)
    private = make_pdf(tmp_path / "quarantined.pdf", lines=["Bản trong khu cách ly"])
    os.symlink(private, watch.inbox / "link.pdf")
    assert [p.name for p in scan(watch)] == []
