"""Hardening fixtures. The harness itself lives in gw_harness.py: with two conftest.py files (tests/ and
tests/hardening/) `from conftest import ...` is ambiguous, both are imported as the module "conftest"."""

from __future__ import annotations

import pytest

from gw_harness import GatewayProcess


@pytest.fixture()
def gateway_process(tmp_path):
    """Factory: gateway_process(settings, **kw) -> a started GatewayProcess, stopped at teardown."""
    made: list[GatewayProcess] = []

    def make(settings, *, start: bool = True, **kw) -> GatewayProcess:
        g = GatewayProcess(settings, tmp_path / f"gw-logs-{len(made)}", **kw)
        made.append(g)
        return g.start() if start else g

    yield make
    for g in made:
        if g.proc is not None and g.proc.poll() is None:
            if g.stop(30) is None:
                g.kill()
