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
sys.path.insert(1, str(Path(__file__).resolve().parent / "hardening"))  # ... and `from gw_harness import ...`


# Defined in util.py: with two conftest.py files (tests/, tests/hardening/) `from conftest import` is
# ambiguous — both are imported as the module "conftest".
from util import make_dev_settings  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def _readings_not_kept_across_modules():
    """A module starts without readings kept by another (gateway.inspect.memo): a test that breaks the reader
    on purpose must not be answered from a reading kept earlier in the same process. Within a module they are
    kept, as in a running gateway (the corpus is read once for the dry run and the signing run)."""
    from gateway.inspect import memo

    memo.forget()
    yield


@pytest.fixture(scope="module")
def pipeline(dev_settings, tmp_path_factory):
    """A Pipeline on the shared token with a decision log of the module's own (a module may define its own)."""
    from gateway.audit import AuditLog
    from gateway.pipeline import Pipeline

    audit = AuditLog.at(tmp_path_factory.mktemp("audit") / "log.sqlite3")
    with Pipeline(dev_settings, audit=audit) as p:
        yield p
    audit.close()


@pytest.fixture(scope="session")
def dev_settings(tmp_path_factory):
    return make_dev_settings(tmp_path_factory.mktemp("kyso-dev"))


@pytest.fixture()
def private_dev_settings(tmp_path):
    return make_dev_settings(tmp_path)


@pytest.fixture(scope="session")
def dev_nssdb(dev_settings) -> Path:
    return dev_settings.paths.nssdb


@pytest.fixture()
def gateway_process(tmp_path):
    """Factory: gateway_process(settings, **kw) -> a started `gateway run` (gw_harness.GatewayProcess), stopped
    at teardown. in_process=True: the same doors on a thread of this process (gw_harness.GatewayInProcess)."""
    from gw_harness import GatewayInProcess, GatewayProcess

    made: list[GatewayProcess] = []

    def make(settings, *, start: bool = True, in_process: bool = False, **kw) -> GatewayProcess:
        kind = GatewayInProcess if in_process else GatewayProcess
        g = kind(settings, tmp_path / f"gw-logs-{len(made)}", **kw)
        made.append(g)
        return g.start() if start else g

    yield make
    for g in made:
        if isinstance(g, GatewayInProcess):
            g.stop(30)
        elif g.proc is not None and g.proc.poll() is None:
            if g.stop(30) is None:
                g.kill()


# The modules that take minutes, in the order they should start (`make test` runs modules whole on two
# processes, in this order, with --no-loadscope-reorder): one of them started last is the suite's tail (the
# shared corpus, ~4.5 min in one process, started last by xdist's order of "most tests first", made the suite
# 9 minutes).
_LONG_MODULES = ("tests/test_corpus.py", "tests/test_secrecy_variants.py", "tests/test_bench_smoke.py",
                 "tests/hardening/test_hard_mail_doors.py", "tests/test_folder_load.py")


def pytest_collection_modifyitems(config, items):
    def rank(item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return _LONG_MODULES.index(path) if path in _LONG_MODULES else len(_LONG_MODULES)

    items.sort(key=rank)  # stable: every module's own order kept
