"""config/gateway.toml documents every key the settings accept, and the systemd unit works with it (issue 16 §6).

Other lines of work add settings keys: when this test fails it names the keys to document in
config/gateway.toml (a commented-out `# key = default` line with a word on what it does is enough).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import typing
from pathlib import Path, PurePosixPath

import pytest
from pydantic import BaseModel

from gateway.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config" / "gateway.toml"
UNIT = ROOT / "config" / "systemd" / "kyso-gateway.service"

_SECTION = re.compile(r"^\s*#?\s*\[\[?([a-z_][a-z0-9_.]*)\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*#?\s*([a-z_][a-z0-9_]*)\s*=")


def _nested_model(annotation) -> type[BaseModel] | None:
    """The settings section (or list-of-tables entry) type behind an annotation, if it is one."""
    todo = [annotation]
    while todo:
        t = todo.pop()
        if isinstance(t, type) and issubclass(t, BaseModel):
            return t
        todo.extend(typing.get_args(t))
    return None


def settings_keys(model: type[BaseModel] = Settings, prefix: str = "") -> set[str]:
    """Every key the settings accept, dotted: `smtp.port`, `folders.watches.inbox`, `smtp.auth_users.name`."""
    out: set[str] = set()
    for name, field in model.model_fields.items():
        inner = _nested_model(field.annotation)
        if inner is not None:
            out |= settings_keys(inner, f"{prefix}{name}.")
        else:
            out.add(prefix + name)
    return out


def documented_keys(text: str) -> set[str]:
    """Keys in the example, set or shown commented out (`# key = ...`), under their (commented) table."""
    out: set[str] = set()
    section = ""
    for line in text.splitlines():
        if m := _SECTION.match(line):
            section = m.group(1) + "."
        elif m := _KEY.match(line):
            out.add(section + m.group(1))
    return out


def test_every_settings_key_is_documented():
    missing = sorted(settings_keys() - documented_keys(EXAMPLE.read_text(encoding="utf-8")))
    assert not missing, (
        f"config/gateway.toml does not document {len(missing)} settings key(s): {', '.join(missing)} — add each "
        "to its [section] (a commented '# key = default' line with what it does)"
    )


def test_nothing_documented_that_the_settings_do_not_accept():
    stale = sorted(documented_keys(EXAMPLE.read_text(encoding="utf-8")) - settings_keys())
    assert not stale, f"config/gateway.toml documents key(s) the settings do not accept: {', '.join(stale)}"


def test_the_key_walk_sees_nested_tables():
    keys = settings_keys()
    assert {"var_dir", "smtp.port", "folders.watches.inbox", "smtp.auth_users.password_hash", "http.clients.name"} <= keys
    doc = documented_keys("[a]\nx = 1\n# y = 2\n# [[a.b]]\n# z = 3\n[c]  # comment\nw = 1\n")
    assert doc == {"a.x", "a.y", "a.b.z", "c.w"}


# --- the systemd unit and the example configuration ----------------------------------------------------------


def unit_entries(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) for each assignment; a key may repeat (Environment=, ReadWritePaths=)."""
    out, section = [], ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.append((section, key.strip(), value.strip()))
    return out


def _values(entries, key: str) -> list[str]:
    return [v for s, k, v in entries if s == "Service" and k == key]


def _within(path: Path, roots: list[str]) -> bool:
    p = PurePosixPath(path)
    return any(p == PurePosixPath(r) or PurePosixPath(r) in p.parents for r in roots)


def test_unit_and_example_config_work_together(monkeypatch):
    entries = unit_entries(UNIT.read_text(encoding="utf-8"))
    env = dict(v.split("=", 1) for v in _values(entries, "Environment"))
    assert env["KYSO_CONFIG"] == "/etc/kyso-gateway/gateway.toml"
    monkeypatch.delenv("GATEWAY_VAR_DIR", raising=False)
    s = load_settings(EXAMPLE)

    # Every folder the gateway writes is writable under ProtectSystem=strict.
    writable = [p for v in _values(entries, "ReadWritePaths") for p in v.split()]
    state = _values(entries, "StateDirectory")
    writable += [f"/var/lib/{d}" for v in state for d in v.split()]
    must_write = [s.var_dir, s.audit.path.parent, s.smtp.spool_dir, s.http.spool_dir, s.folders.work_dir,
                  Path(s.token.pin_latch_file).parent]
    for w in s.folders.watches:
        must_write += [p for p in (w.inbox, w.signed, w.rejected, w.archive, w.quarantine) if p is not None]
    not_writable = [str(p) for p in must_write if not _within(p, writable)]
    assert not not_writable, f"not in ReadWritePaths/StateDirectory of the unit: {not_writable}"
    assert f"/var/lib/{state[0]}" == str(s.var_dir), "StateDirectory= should make var_dir for the service user"
    for crl in s.trust.crls:  # refreshed by a timer as the gateway's user: under var_dir
        assert crl.startswith("http") or _within(Path(crl), writable)

    # The PIN comes in as a systemd credential, under the name token.pin_file reads.
    creds = dict(v.split(":", 1) for v in _values(entries, "LoadCredential"))
    pin = PurePosixPath(s.token.pin_file)
    assert pin.parent == PurePosixPath("/run/credentials") / UNIT.name, pin
    assert pin.name in creds, f"LoadCredential={pin.name}:... missing (have {sorted(creds)})"
    assert s.token.pin is None  # and never in the file or the unit
    assert not any("PIN" in k for k in env)

    assert int(_values(entries, "LimitNOFILE")[0]) >= 4096
    assert _values(entries, "ExecStart")[0].endswith("gateway run")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify(tmp_path):
    """systemd's own check of the unit. Only the program path is adapted (the unit names /opt/kyso-gateway)."""
    gateway = Path(sys.executable).parent / "gateway"
    text = UNIT.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^ExecStart=\S+/gateway ", f"ExecStart={gateway} ", text)
    text = re.sub(r"(?m)^WorkingDirectory=.*$", f"WorkingDirectory={ROOT}", text)
    unit = tmp_path / UNIT.name
    unit.write_text(text, encoding="utf-8")
    p = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    complaints = [line for line in (p.stdout + p.stderr).splitlines() if str(unit) in line or "Unknown" in line]
    assert not complaints, complaints


def test_example_config_is_valid_toml():
    tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
