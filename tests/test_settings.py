"""Configuration: development default with no file, TOML file, GATEWAY_* overrides, clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.settings import load_settings

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    import os

    for key in list(os.environ):
        if key.startswith("GATEWAY_") or key == "KYSO_CONFIG":
            monkeypatch.delenv(key)


def test_development_default_needs_no_file(tmp_path):
    s = load_settings(var_dir=str(tmp_path))
    assert s.token.pin_file == tmp_path / "secrets" / "token-pin"
    assert s.trust.roots == [tmp_path / "pki" / "root.pem"]
    assert s.audit.path == tmp_path / "audit.sqlite3"
    assert s.folders.watches[0].inbox == tmp_path / "folders" / "inbox"
    assert s.smtp.host == "127.0.0.1" and s.smtp.port == 10025
    assert s.http.port == 8080
    assert (s.policy.dir / "default.toml").exists() or s.policy.dir.name == "policies"


def test_environment_overrides_file(tmp_path, monkeypatch):
    cfg = tmp_path / "g.toml"
    cfg.write_text('[smtp]\nport = 2525\nhost = "127.0.0.2"\n', encoding="utf-8")
    monkeypatch.setenv("GATEWAY_SMTP__PORT", "3535")
    s = load_settings(cfg)
    assert s.smtp.port == 3535  # environment beats the file
    assert s.smtp.host == "127.0.0.2"  # the file beats the default


def test_config_file_from_environment(tmp_path, monkeypatch):
    cfg = tmp_path / "g.toml"
    cfg.write_text('organisation = "Sở Thông tin và Truyền thông"\n', encoding="utf-8")
    monkeypatch.setenv("KYSO_CONFIG", str(cfg))
    assert load_settings().organisation == "Sở Thông tin và Truyền thông"


@pytest.mark.parametrize(
    "text, key",
    [
        ("[smtp]\nprot = 25\n", "smtp.prot"),
        ("[signing]\nworkers = 0\n", "signing.workers"),
        ("[trust]\nrevocation = \"sometimes\"\n", "trust.revocation"),
        ("bogus = 1\n", "bogus"),
        ("[signing]\nlevel = \"B-LT\"\n", "signing"),
        ("[[http.clients]]\nname = \"x\"\ntoken_sha256 = \"abc\"\n", "http.clients.0.token_sha256"),
    ],
)
def test_bad_keys_and_values_name_the_key(tmp_path, text, key):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert key in str(err.value)
    assert "cấu hình không hợp lệ" in str(err.value)


def test_bad_environment_value_names_the_key(monkeypatch):
    monkeypatch.setenv("GATEWAY_SMTP__PORT", "not-a-port")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "smtp.port" in str(err.value)


def test_syntax_error_and_missing_file(tmp_path):
    cfg = tmp_path / "broken.toml"
    cfg.write_text("[smtp\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="cú pháp"):
        load_settings(cfg)
    with pytest.raises(ConfigError, match="không tìm thấy"):
        load_settings(tmp_path / "absent.toml")


def test_pin_is_secret_and_never_printed(tmp_path, monkeypatch):
    monkeypatch.setenv("GATEWAY_TOKEN__PIN", "918273")
    s = load_settings(var_dir=str(tmp_path))
    assert s.token.read_pin() == "918273"
    assert "918273" not in repr(s) and "918273" not in str(s.redacted())


def test_pin_from_file(tmp_path):
    pin = tmp_path / "pin"
    pin.write_text("5566\n", encoding="utf-8")
    s = load_settings(token={"pin_file": str(pin)})
    assert s.token.read_pin() == "5566"
    missing = load_settings(token={"pin_file": str(tmp_path / "nope")})
    with pytest.raises(ConfigError):
        missing.token.read_pin()


def test_shipped_production_example_is_valid():
    s = load_settings(REPO / "config" / "gateway.toml")
    assert s.token.module != Path("/usr/lib/softhsm/libsofthsm2.so") or s.token.token_label


def test_cli_reports_bad_config_with_usage_exit(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[smtp]\nprot = 25\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "gateway", "--config", str(cfg), "log", "verify"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "smtp.prot" in proc.stderr
