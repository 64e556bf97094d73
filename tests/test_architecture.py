"""The direction of dependencies (ARCHITECTURE.md), asserted on the source: walk every module's AST."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "gateway"
DOORS = ("gateway.smtp", "gateway.folderwatch", "gateway.publish")
CORE = ("model", "errors", "reasons", "rules", "policy", "pipeline", "inspect/__init__", "inspect/marks", "inspect/pdf",
        "inspect/sniff", "inspect/text", "inspect/reading", "audit/__init__", "audit/records", "audit/storage",
        "audit/checkpoints", "audit/log", "validation", "engine", "settings", "doors",
        "metrics")
PURE = ("model", "rules", "policy")  # no third-party library at all (only stdlib and gateway.*)
# Libraries that do I/O or protocols: never in the core's import graph directly.
IO_LIBS = ("aiosmtpd", "aiosmtplib", "smtplib", "starlette", "uvicorn", "httpx", "watchdog", "pkcs11", "pyhanko",
           "pyhanko_certvalidator", "requests", "urllib3", "socket", "http", "asyncio", "sqlite3", "pypdf")


def imports(path: Path) -> set[str]:
    """Every module name imported anywhere in the file (top level or inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def module_file(name: str) -> Path | None:
    f = PKG / f"{name}.py"
    return f if f.exists() else None


def top(name: str) -> str:
    return name.split(".")[0]


@pytest.mark.parametrize("name", CORE)
def test_core_imports_no_door(name):
    f = module_file(name)
    if f is None:
        pytest.skip(f"gateway/{name}.py not present")
    bad = {m for m in imports(f) if m.startswith(DOORS)}
    assert not bad, f"gateway/{name}.py imports door(s) {sorted(bad)}"


@pytest.mark.parametrize("name", PURE)
def test_pure_modules_import_only_stdlib_and_gateway(name):
    f = module_file(name)
    mods = {top(m) for m in imports(f)}
    third = {m for m in mods if m != "gateway" and m not in sys.stdlib_module_names and m != "__future__"}
    assert not third, f"gateway/{name}.py imports third-party {sorted(third)}"
    io = {m for m in mods if m in IO_LIBS}
    assert not io, f"gateway/{name}.py imports I/O library {sorted(io)}"


@pytest.mark.parametrize("name", ("model", "errors", "reasons", "rules", "policy", "inspect/marks", "inspect/reading"))
def test_no_io_library_in_the_data_layer(name):
    f = module_file(name)
    if f is None:
        pytest.skip(f"gateway/{name}.py not present")
    io = {top(m) for m in imports(f)} & set(IO_LIBS)
    assert not io, f"gateway/{name}.py imports {sorted(io)}"


def test_pipeline_knows_no_protocol_or_token_library():
    # The pipeline reaches signing and inspection through gateway modules only (imported lazily).
    io = {top(m) for m in imports(PKG / "pipeline.py")} & {"pyhanko", "pkcs11", "aiosmtpd", "starlette", "watchdog"}
    assert not io


def test_the_checker_itself_sees_imports(tmp_path):
    # A test that cannot fail is a defect: the walker must see a function-level import.
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    import aiosmtpd.smtp\n    from gateway.smtp import door\n")
    found = imports(sample)
    assert "aiosmtpd.smtp" in found and "gateway.smtp" in found
