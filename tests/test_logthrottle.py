"""Repeated log lines are rate-limited per template; other lines pass; the count left out is said once."""

from __future__ import annotations

import io
import logging

from gateway.logthrottle import Throttle, install


def _logger(stream, clock):
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    t = Throttle(burst=5, window=10.0, clock=clock)
    handler.addFilter(t)
    log = logging.getLogger("test.throttle")
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.INFO)
    return log, t


def test_a_flood_of_one_line_is_cut_and_counted_other_lines_pass():
    now = [0.0]
    out = io.StringIO()
    log, t = _logger(out, lambda: now[0])
    for i in range(10_000):
        log.error("socket.accept() out of system resource: %s", i)
        if i == 5000:
            log.error("ALERT decision log deleted")  # another template: never held back by the flood
    lines = out.getvalue().splitlines()
    assert len(lines) == 6 and lines[-1] == "ERROR ALERT decision log deleted"
    assert t.dropped_total == 10_000 - 5
    now[0] = 11.0
    log.error("socket.accept() out of system resource: %s", "again")
    last = out.getvalue().splitlines()[-1]
    assert "again" in last and "9995" in last and "suppressed" in last
    log.error("socket.accept() out of system resource: %s", "more")
    assert "suppressed" not in out.getvalue().splitlines()[-1]


def test_install_is_idempotent():
    h = logging.StreamHandler(io.StringIO())
    assert install(h) is install(h) and len(h.filters) == 1
