"""Rebuilders of single-file streams (gzip, bzip2, xz): the signed (or rebuilt) member compressed again the
same way; a gzip keeps its header's file name and time. They hold one file, so a `.p7s` cannot travel with it
(the policy refuses that case first: CONTAINER_CANNOT_CARRY_SIGNATURE)."""

from __future__ import annotations

import bz2
import gzip
import lzma
import shutil
from pathlib import Path
from typing import Mapping

from gateway.errors import InputRejected
from gateway.inspect.container_stream import gzip_header
from gateway.signing.containers import Change, rebuilder

CHUNK = 1024 * 1024


def _replacement(kind: str, changes: Mapping[str, Change]) -> Path:
    change = changes.get(f"{kind}:0")
    if change is None or change.replacement is None or change.beside or len(changes) != 1:
        raise InputRejected(f"{kind} holds one file", code="CONTAINER_CANNOT_CARRY_SIGNATURE", container=kind,
                            names="")
    return change.replacement


@rebuilder("gzip")
def rebuild_gzip(source: Path, destination: Path, changes: Mapping[str, Change]) -> None:
    new = _replacement("gzip", changes)
    name, mtime = gzip_header(source)
    with open(destination, "wb") as raw, gzip.GzipFile(filename=name or "", mode="wb", fileobj=raw, mtime=mtime) as out, \
            open(new, "rb") as src:
        shutil.copyfileobj(src, out, CHUNK)


@rebuilder("bzip2")
def rebuild_bzip2(source: Path, destination: Path, changes: Mapping[str, Change]) -> None:
    new = _replacement("bzip2", changes)
    with bz2.open(destination, "wb") as out, open(new, "rb") as src:
        shutil.copyfileobj(src, out, CHUNK)


@rebuilder("xz")
def rebuild_xz(source: Path, destination: Path, changes: Mapping[str, Change]) -> None:
    new = _replacement("xz", changes)
    with lzma.open(destination, "wb", format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64) as out, open(new, "rb") as src:
        shutil.copyfileobj(src, out, CHUNK)
