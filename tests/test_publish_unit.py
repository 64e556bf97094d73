"""Portal door pieces on their own: auth, metadata, problem mapping, the OpenAPI file."""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from pathlib import Path

import pytest

from gateway.errors import AuditUnavailable, ConfigError, PinRejected, PolicyRefusal, SignerUnavailable
from gateway.model import Declared, DocKind
from gateway.publish import openapi, problems
from gateway.publish.auth import Authenticator, Client, hash_token, read_clients_file
from gateway.publish.uploads import declared_from, safe_name

ROOT = Path(__file__).resolve().parent.parent


def _write_clients(path: Path, **tokens: str) -> None:
    path.write_text(
        "".join(f'[[clients]]\nname = "{n}"\ntoken_sha256 = "{hash_token(t)}"\n' for n, t in tokens.items())
    )


def test_auth_clients_file_and_settings(tmp_path):
    f = tmp_path / "clients.toml"
    _write_clients(f, portal="tok-portal", dms="tok-dms")
    auth = Authenticator([Client("cfg", hashlib.sha256(b"tok-cfg").digest())], f)
    assert auth.authenticate("Bearer tok-portal") == "portal"
    assert auth.authenticate("bearer  tok-dms ") == "dms"
    assert auth.authenticate("Bearer tok-cfg") == "cfg"
    for bad in ("Bearer tok-portaX", "Basic dG9r", "Bearer ", "tok-portal"):
        with pytest.raises(problems.AuthenticationFailed) as e:
            auth.authenticate(bad)
        assert not isinstance(e.value, problems.AuthRequired)
    with pytest.raises(problems.AuthRequired):
        auth.authenticate(None)


def test_auth_reloads_changed_file_and_keeps_clients_on_broken_file(tmp_path):
    f = tmp_path / "clients.toml"
    _write_clients(f, one="t1")
    auth = Authenticator([], f)
    assert auth.authenticate("Bearer t1") == "one"
    time.sleep(0.01)
    _write_clients(f, two="t2")
    assert auth.authenticate("Bearer t2") == "two"
    with pytest.raises(problems.AuthenticationFailed):
        auth.authenticate("Bearer t1")
    f.write_text("[[clients]\nbroken")
    assert auth.authenticate("Bearer t2") == "two"  # half-written file: previous list kept
    with pytest.raises(ConfigError):
        read_clients_file(f)
    with pytest.raises(ConfigError):
        Authenticator([], f)  # at start a broken file stops the gateway


def test_auth_timing_wrong_vs_almost_right_is_reported(tmp_path, capsys):
    """Constant-time comparison: report the mean difference, do not assert speed (machines vary)."""
    token = "A" * 43
    f = tmp_path / "clients.toml"
    _write_clients(f, **{f"c{i}": f"{token[:-2]}{i:02d}" for i in range(20)})
    auth = Authenticator([], f)

    def once(presented: str) -> int:
        t0 = time.perf_counter_ns()
        try:
            auth.authenticate("Bearer " + presented)
        except problems.AuthenticationFailed:
            pass
        return time.perf_counter_ns() - t0

    samples: dict[str, list[int]] = {"wrong": [], "almost": []}
    for _ in range(3000):  # interleaved, so drift (caches, frequency) hits both alike
        samples["wrong"].append(once("z" * 43))
        samples["almost"].append(once(token[:-2] + "99"))
    wrong, almost = (statistics.mean(sorted(v)[:2700]) for v in samples.values())  # drop the slowest 10 %
    with capsys.disabled():
        print(f"\n[auth timing, in-process] wrong token {wrong/1000:.2f} µs, almost-right {almost/1000:.2f} µs, "
              f"difference {abs(wrong - almost)/1000:.3f} µs ({abs(wrong - almost) / wrong:.1%})")


def test_metadata_fields():
    d = declared_from({"kind": "Issued", "number": "12/UBND-VP", "classification": "MẬT", "title": "Về việc"})
    assert d == Declared(number="12/UBND-VP", kind=DocKind.ISSUED, classification="MẬT", title="Về việc")
    with pytest.raises(problems.BadMetadata):
        declared_from({"kind": "secretish"})
    with pytest.raises(problems.BadMetadata):
        declared_from({"title": "a\x00b"})
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("C:\\docs\\Quyết định.pdf") == "Quyết định.pdf"
    assert safe_name(None) == safe_name("..") == "document.pdf"


@pytest.mark.parametrize(
    "exc,status",
    [
        (SignerUnavailable("x"), 503),
        (PinRejected("x"), 503),
        (AuditUnavailable("x"), 503),
        (RuntimeError("secret internals /var/x"), 503),
        (PolicyRefusal("x"), 422),
        (problems.UploadTooLarge(size=9, max=1), 413),
        (problems.AuthRequired("x"), 401),
        (problems.BadRequest("x", detail="d"), 400),
        (problems.NotFound("x"), 404),
    ],
)
def test_exception_mapping(exc, status):
    resp = problems.for_exception(exc)
    body = json.loads(resp.body)
    assert resp.status_code == status == body["status"]
    assert resp.media_type == "application/problem+json"
    assert body["type"].startswith("urn:kyso:problem:") and body["reasons"][0]["vi"] and body["reasons"][0]["en"]
    assert "internals" not in resp.body.decode()
    if status == 503:
        assert int(resp.headers["retry-after"]) > 0
    if status == 401:
        assert resp.headers["www-authenticate"].startswith("Bearer ")


def test_openapi_file_is_current():
    assert json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8")) == openapi.document()
    assert openapi.document()["openapi"].startswith("3.1")
