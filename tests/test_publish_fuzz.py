"""Schemathesis against the served OpenAPI document: no 5xx and conformant answers on generated input.

Examples are bounded (100 per operation) so the run stays well under a minute.
"""

from __future__ import annotations

import time

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from schemathesis.specs.openapi.checks import positive_data_acceptance

from gateway.engine import Engine
from publish_support import RunningDoor, http_settings

pytestmark = [pytest.mark.hsm, pytest.mark.slow]
EXAMPLES = 100


def test_openapi_fuzz_no_server_errors(dev_settings, tmp_path, capsys):
    s = http_settings(dev_settings, tmp_path, max_upload_bytes=256 * 1024)
    with Engine(s) as engine:
        door = RunningDoor(s, engine)
        try:
            schema = schemathesis.openapi.from_url(door.url + "/openapi.json", headers=door.headers)
            ran = []
            for found in schema.get_all_operations():
                op = found.ok()
                started = time.perf_counter()

                @given(case=op.as_strategy())
                @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
                def fuzz(case):
                    # positive_data_acceptance is left out on purpose: a schema-valid upload may still be a
                    # refused document (422 EMPTY_DOCUMENT, UNSUPPORTED_TYPE...): a decision, not a bad request.
                    case.call_and_validate(headers=door.headers, timeout=60, excluded_checks=[positive_data_acceptance])

                fuzz()
                ran.append(f"{op.label} {time.perf_counter() - started:.1f}s")
            with capsys.disabled():
                print("\n[schemathesis] " + "; ".join(ran))
            labels = " ".join(ran)  # schemathesis leaves out the schema's own URL (/openapi.json)
            for op in ("POST /v1/documents:sign", "POST /v1/documents:check", "GET /v1/decisions/{id}", "GET /healthz", "GET /metrics"):
                assert op in labels
            assert not list(s.http.spool_dir.glob("up-*"))
        finally:
            door.stop()
