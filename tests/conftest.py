"""Shared fixtures: a real development environment (SoftHSM token, dev PKI) in a temporary var dir.

`dev_settings` (session scope) is shared by every test that only signs/verifies. Tests that break or change
the token (wrong PIN, new certificate, moved token dir) must use `make_dev_settings(tmp_path)` / the
`private_dev_settings` fixture: a private token and PKI of their own.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # so tests can `from util import ...`


_TEMPLATE: list[Path] = []  # a finished var dir whose CA, persons and NSS db private var dirs may copy


def make_dev_settings(tmp_path: Path, *, fresh_pki: bool = False, **overrides):
    """Settings on a fresh var dir under tmp_path, with dev-init run on it: a private token and org key.

    The dev CA, person certificates, seal and NSS db are copied from an earlier dev var dir of this session
    (only to save key generation time) unless fresh_pki; the token, its key and certificate are always new.
    """
    import shutil

    from gateway.devinit import dev_init
    from gateway.settings import load_settings

    var_dir = Path(tmp_path) / "var"
    if _TEMPLATE and not fresh_pki and not var_dir.exists():
        src = _TEMPLATE[0]
        shutil.copytree(src / "pki", var_dir / "pki", ignore=shutil.ignore_patterns("org.pem"))
        shutil.copy2(src / "seal.png", var_dir / "seal.png")
    settings = load_settings(var_dir=var_dir, **overrides)
    dev_init(settings)
    if not _TEMPLATE:
        _TEMPLATE.append(var_dir)
    return settings


@pytest.fixture(scope="session")
def dev_settings(tmp_path_factory):
    return make_dev_settings(tmp_path_factory.mktemp("kyso-dev"))


@pytest.fixture()
def private_dev_settings(tmp_path):
    return make_dev_settings(tmp_path)


@pytest.fixture(scope="session")
def dev_nssdb(dev_settings) -> Path:
    return dev_settings.paths.nssdb
