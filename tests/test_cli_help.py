"""Help texts are complete in Vietnamese and English: every command, every option (issue 16 §6)."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

import pytest

from gateway.cli import build_parser

VI = re.compile(r"[àáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵ]", re.I)
EN = re.compile(r"(?:^|\s/\s|\n)([A-Za-z][A-Za-z#]*)(?=[\s,.:;()/-]|$)")  # an English word after " / "


def bilingual(text: str | None) -> bool:
    """Vietnamese (its letters), then " / " and English beside it (a phrase without Vietnamese letters)."""
    if not text or not VI.search(text):
        return False
    return any(not VI.search(m.group(1)) and m.start() > 0 for m in EN.finditer(text))


def parsers():
    """(command path, parser) for `gateway` and every subcommand at every level."""
    todo = [("gateway", build_parser())]
    seen = set()
    while todo:
        path, p = todo.pop(0)
        if id(p) in seen:
            continue
        seen.add(id(p))
        yield path, p
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                todo += [(f"{path} {name}", sub) for name, sub in a.choices.items()]


def test_every_command_and_option_is_explained_in_both_languages():
    missing = []
    for path, p in parsers():
        if not bilingual(p.description):
            missing.append(f"{path}: description {p.description!r}")
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                for choice in a._choices_actions:
                    if not bilingual(choice.help):
                        missing.append(f"{path} {choice.dest}: {choice.help!r}")
                continue
            if not bilingual(a.help):
                missing.append(f"{path} {'/'.join(a.option_strings) or a.dest}: {a.help!r}")
    assert not missing, "help text not in Vietnamese and English:\n" + "\n".join(missing)


def test_a_help_check_can_fail():
    assert not bilingual("show this help message and exit") and not bilingual("tệp PDF")
    assert bilingual("tệp PDF / PDF file") and not bilingual("lỗi / lỗi")


@pytest.mark.parametrize("args", [["--help"], ["sign", "--help"], ["log", "verify", "--help"], ["certs", "revoke", "-h"]])
def test_help_as_a_process(args):
    p = subprocess.run([sys.executable, "-m", "gateway", *args], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert out.startswith("cách dùng / usage:") and "tùy chọn / options" in out
    assert "show this help message" not in out and "hiện hướng dẫn này / show this help and exit" in out
    assert "Mã thoát / exit codes" in out
