"""Helpers for container tests, shared with other lanes (the mail tests reuse them for archives in mail).

Archives are made by the real tools (`zip`, `7z`, `tar`, `gzip`) and what the gateway released is taken
apart by independent ones (`unzip`, `7z`, `tar`, `tnef`) and verified with `pdfsig` / `openssl cms`.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from util import make_pdf

MAT_LINES = ["ỦY BAN NHÂN DÂN TỈNH (DEV)", "Số: 9/UBND", "MẬT", "Nội dung bí mật 424242"]


def make_mat_pdf(path: Path) -> Path:
    """A PDF whose page carries the state-secret mark MẬT (BLOCKed wherever it travels)."""
    return make_pdf(path, lines=MAT_LINES)


def zip_tool(archive: Path, cwd: Path, names: list[str], *flags: str) -> Path:
    """`zip` run in `cwd` on `names` (relative), in that order."""
    archive.unlink(missing_ok=True)
    subprocess.run(["zip", "-q", *flags, str(archive), *names], cwd=cwd, check=True)
    return archive


def unzip_all(archive: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["unzip", "-q", "-o", str(archive), "-d", str(dest)], check=True)
    return dest


def seven_zip(archive: Path, cwd: Path, names: list[str], *flags: str) -> Path:
    archive.unlink(missing_ok=True)
    subprocess.run(["7z", "a", "-bd", "-y", *flags, str(archive), *names], cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL)
    return archive


def seven_unzip(archive: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["7z", "x", "-bd", "-y", f"-o{dest}", str(archive)], check=True, stdout=subprocess.DEVNULL)
    return dest


def seven_list(archive: Path) -> list[str]:
    """Member paths in the archive's order, as 7z lists them (-slt)."""
    out = subprocess.run(["7z", "l", "-slt", "-ba", str(archive)], check=True, capture_output=True, text=True).stdout
    return [line[len("Path = "):] for line in out.splitlines() if line.startswith("Path = ")]


def tar_tool(archive: Path, cwd: Path, names: list[str], *flags: str) -> Path:
    archive.unlink(missing_ok=True)
    subprocess.run(["tar", *flags, "-cf", str(archive), *names], cwd=cwd, check=True)
    return archive


def untar_all(archive: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-xf", str(archive), "-C", str(dest)], check=True)
    return dest


def cms_verify(p7s: Path, content: Path, settings) -> None:
    """`openssl cms -verify` of a detached DER signature over `content`, chained to the dev root."""
    pki = Path(settings.paths.pki)
    r = subprocess.run(
        ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(p7s), "-content", str(content),
         "-CAfile", str(pki / "root.pem"), "-certfile", str(pki / "ca.pem"), "-purpose", "any", "-out", "/dev/null"],
        capture_output=True, text=True,
    )
    assert r.returncode == 0 and "Verification successful" in r.stderr, r.stderr


def policy_with(options: dict | None = None):
    """The shipped default policy with some [options] changed (a PolicySet for Pipeline(policies=...))."""
    from gateway.policy import Policy, PolicySet
    from gateway.settings import shipped_policies_dir

    text = (shipped_policies_dir() / "default.toml").read_text(encoding="utf-8")
    lines = []
    for key, value in (options or {}).items():
        v = "[" + ", ".join(f'"{x}"' for x in value) + "]" if isinstance(value, list) else f'"{value}"'
        lines.append(f"{key} = {v}")
        text = "\n".join(l for l in text.splitlines() if not l.startswith(f"{key} ="))
    text = text.replace("[options]\n", "[options]\n" + "\n".join(lines) + "\n", 1)
    return PolicySet(Policy.from_text(text, "<test policy>"))


def have(tool: str) -> bool:
    return shutil.which(tool) is not None
