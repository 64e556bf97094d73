"""Start-up fails fast: `gateway run` as a real process exits 2 naming every cause, and never says "running"
when signing cannot work (issue 16 §1). The checks themselves (gateway.preflight) on the real dev token."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from gateway import preflight
from gateway.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
GATEWAY = Path(sys.executable).parent / "gateway"
RUNNING = ("đang chạy", "running")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(var_dir: Path | None, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_") and k != "KYSO_CONFIG"}
    ports = {"GATEWAY_HTTP__PORT": _free_port(), "GATEWAY_SMTP__PORT": _free_port(),
             "GATEWAY_SMTP__UPSTREAM_PORT": _free_port()}
    env.update({k: str(v) for k, v in ports.items()}, GATEWAY_SIGNING__WORKERS="1")
    if var_dir is not None:
        env["GATEWAY_VAR_DIR"] = str(var_dir)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _run(env: dict, *args: str, cwd: Path = ROOT, timeout: float = 60) -> subprocess.CompletedProcess:
    """`gateway [args] run`; a gateway that started after all is stopped and fails the test."""
    proc = subprocess.Popen([str(GATEWAY), *args, "run"], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()
        out, err = proc.communicate(timeout=60)
        pytest.fail(f"gateway run did not stop at start:\n{out}\n{err}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _never_running(p: subprocess.CompletedProcess) -> None:
    text = (p.stdout + p.stderr).lower()
    assert not any(word in text for word in RUNNING), text
    assert "Traceback" not in p.stderr and "INTERNAL_ERROR" not in p.stderr, p.stderr


# --- a port in use: SMTP, the dev mail sink, HTTP ----------------------------------------------------------


@pytest.mark.parametrize("which", ["GATEWAY_SMTP__PORT", "GATEWAY_SMTP__UPSTREAM_PORT", "GATEWAY_HTTP__PORT"])
def test_port_in_use_exits_2_naming_the_address(dev_settings, which):
    env = _env(dev_settings.var_dir)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        env[which] = str(port)
        p = _run(env)
    assert p.returncode == 2, (p.stdout, p.stderr)
    _never_running(p)
    assert "STARTUP_PORT_IN_USE" in p.stderr and f"127.0.0.1:{port}" in p.stderr, p.stderr
    key = {"GATEWAY_SMTP__PORT": "smtp.port", "GATEWAY_SMTP__UPSTREAM_PORT": "smtp.upstream_port",
           "GATEWAY_HTTP__PORT": "http.port"}[which]
    assert key in p.stderr
    assert p.stderr.index("Cổng") < p.stderr.index("The ")  # Vietnamese first, English beside it


# --- the example production configuration on a machine without the HSM and the trust files ---------------


def test_production_example_without_hsm_and_trust_files_does_not_start(tmp_path):
    var = tmp_path / "var"
    var.mkdir()
    p = _run(_env(var), "--config", str(ROOT / "config" / "gateway.toml"), cwd=tmp_path)
    assert p.returncode == 2, (p.stdout, p.stderr)
    _never_running(p)
    err = p.stderr
    for code in ("STARTUP_PKCS11_MODULE", "STARTUP_TRUST_MISSING", "STARTUP_CRL_MISSING"):
        assert code in err, err
    # each names the path to fix, and the key that sets it
    assert "/usr/lib/x86_64-linux-gnu/pkcs11/vendor-pkcs11.so" in err and "token.module" in err
    assert "rootca-chuyen-dung-chinh-phu-g2.pem" in err and "trust.roots" in err
    assert "ca-phuc-vu-co-quan-nha-nuoc-g2.crl" in err and "trust.crls" in err
    assert "token-pin" in err  # the PIN credential is not there either
    assert not (tmp_path / "var" / "audit.sqlite3").exists()  # nothing was started, nothing recorded
    assert sorted(x.name for x in tmp_path.iterdir()) == ["var"]  # and nothing created where it ran


def test_missing_environment_is_named_not_run(tmp_path):
    p = _run(_env(tmp_path / "nowhere"), cwd=tmp_path)
    assert p.returncode == 2 and "ENVIRONMENT_MISSING" in p.stderr and str(tmp_path / "nowhere") in p.stderr
    _never_running(p)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.hsm
def test_wrong_token_label_lists_the_tokens_found(dev_settings):
    p = _run(_env(dev_settings.var_dir, GATEWAY_TOKEN__TOKEN_LABEL="CO-QUAN-KHAC"))
    assert p.returncode == 2, (p.stdout, p.stderr)
    _never_running(p)
    assert "STARTUP_TOKEN_NOT_FOUND" in p.stderr and "CO-QUAN-KHAC" in p.stderr
    assert "«KYSO-DEV»" in p.stderr  # what is there, so the operator sees the typo


def test_unwritable_folder_is_named(private_dev_settings, tmp_path):
    inbox = tmp_path / "ro-inbox"
    inbox.mkdir()
    if subprocess.run(["chattr", "+i", str(inbox)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i not available (root ignores permission bits)")
    try:
        env = _env(private_dev_settings.var_dir)
        config = tmp_path / "gw.toml"
        config.write_text(
            f'var_dir = "{private_dev_settings.var_dir}"\n[folders]\n[[folders.watches]]\nname = "x"\n'
            f'inbox = "{inbox}"\nsigned = "{tmp_path / "signed"}"\nrejected = "{tmp_path / "rejected"}"\n'
            '[smtp]\nsink_enabled = true\n',
            encoding="utf-8",
        )
        p = _run(env, "--config", str(config))
    finally:
        subprocess.run(["chattr", "-i", str(inbox)], capture_output=True)
    assert p.returncode == 2, (p.stdout, p.stderr)
    _never_running(p)
    assert "STARTUP_NOT_WRITABLE" in p.stderr and str(inbox) in p.stderr and "folders.watches[x].inbox" in p.stderr


# --- the checks in-process, on the real token -------------------------------------------------------------


@pytest.mark.hsm
def test_dev_environment_passes(dev_settings):
    assert preflight.check(dev_settings, ["smtp", "folder", "http"]) == []


@pytest.mark.hsm
@pytest.mark.parametrize(
    "token, code",
    [({"key_label": "khong-co"}, "STARTUP_KEY_NOT_FOUND"), ({"cert_label": "khong-co"}, "STARTUP_CERT_NOT_FOUND")],
)
def test_missing_key_or_certificate(dev_settings, token, code):
    s = load_settings(var_dir=dev_settings.var_dir, token=token)
    problems = preflight.check(s, [])
    assert [p.code for p in problems] == [code], problems
    assert "khong-co" in problems[0].args["label"] and problems[0].args["token"] == "KYSO-DEV"


@pytest.mark.hsm
def test_missing_trust_root_and_crl_are_named(dev_settings, tmp_path):
    s = load_settings(var_dir=dev_settings.var_dir,
                      trust={"roots": [str(tmp_path / "root.pem")], "crls": [str(tmp_path / "ca.crl")]})
    codes = {p.code: p.args for p in preflight.check(s, [])}
    assert codes["STARTUP_TRUST_MISSING"]["path"] == str(tmp_path / "root.pem")
    assert codes["STARTUP_CRL_MISSING"]["path"] == str(tmp_path / "ca.crl")
    assert "ORG_CERT_UNTRUSTED" not in codes  # the cause is named, not its consequence


def test_bind_error_names_the_address():
    exc = OSError(98, "error while attempting to bind on address ('127.0.0.1', 10025): address already in use")
    r = preflight.bind_error("smtp", exc)
    assert r.code == "STARTUP_PORT_IN_USE" and r.args["address"] == "127.0.0.1:10025"
