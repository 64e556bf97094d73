"""Wall-clock limits for reading hostile input.

`time_limit(seconds)` interrupts a block with `Timeout` (SIGALRM: only on the main thread; elsewhere a
no-op, and readers check `Budget.expired()` between steps instead). `Timeout` is a BaseException on purpose:
libraries' `except Exception` must not swallow the deadline. A reader that runs out of time reports what it
could not read (Reading.incomplete): the document is never released on a partial reading.
"""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager


RETRY = 0.05  # seconds between repeats of an alarm that fired and was swallowed
GRACE = 2.0  # seconds a reading that acknowledged the alarm has to finish what it has


class Timeout(BaseException):
    """The reading ran out of time (BaseException: `except Exception` in libraries must not catch it)."""

    def __init__(self, state: "_State | None" = None) -> None:
        super().__init__("time limit")
        self.state = state


class _State:
    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.fired = False
        self.acknowledged = False


def acknowledge(exc: Timeout) -> None:
    """Our own reader caught `exc` on purpose and recorded what it did not read (incomplete): it may finish
    with what it has (within GRACE seconds, then the alarm rings again) and the block ends without Timeout.
    Anything else that catches a Timeout is a loss the block turns back into a Timeout."""
    st = exc.state
    if st is None or not st.fired or st.acknowledged:
        return
    st.acknowledged = True
    st.deadline = time.monotonic() + GRACE
    signal.setitimer(signal.ITIMER_REAL, GRACE)


@contextmanager
def time_limit(seconds: float):
    """Interrupt the block after `seconds` (SIGALRM, main thread only; elsewhere a no-op).

    Another alarm already armed (pytest-timeout, a caller) is preserved: ours is the earlier of the two, and
    when the earlier one is theirs their handler runs.

    Fail closed when the Timeout is lost: raised where Python ignores exceptions (a gc or weakref callback,
    `__del__`) or swallowed by a library's bare `except:`, it would let the reading go on, or return a partial
    result as if whole. So once ours has fired it fires again every RETRY seconds until the block ends, and a
    block that ends normally after ours fired still raises Timeout — unless our own reader `acknowledge`d it.
    """
    if threading.current_thread() is not threading.main_thread() or seconds <= 0:
        yield
        return
    start = time.monotonic()
    st = _State(start + seconds)
    old_handler = signal.getsignal(signal.SIGALRM)
    old_delay, old_interval = signal.getitimer(signal.ITIMER_REAL)
    old_deadline = start + old_delay if old_delay > 0 else None

    def handler(signum, frame):
        now = time.monotonic()
        if old_deadline is not None and now >= old_deadline - 0.001 and callable(old_handler):
            old_handler(signum, frame)
        if now < st.deadline - 0.001:  # it was their alarm, not ours: wait for ours
            signal.setitimer(signal.ITIMER_REAL, st.deadline - now)
            return
        st.fired = True
        st.acknowledged = False  # (a grace period that ran out is no longer acknowledged)
        signal.setitimer(signal.ITIMER_REAL, RETRY)  # again, should this one be swallowed
        raise Timeout(st)

    signal.signal(signal.SIGALRM, handler)
    first = min(seconds, old_delay) if old_delay > 0 else seconds
    signal.setitimer(signal.ITIMER_REAL, first)
    try:
        yield
    except Timeout:
        raise
    except BaseException as exc:
        if st.fired and not st.acknowledged:  # a library turned our Timeout into an error of its own
            raise Timeout(st) from exc
        raise
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        if old_deadline is not None:
            remaining = old_deadline - time.monotonic()
            signal.setitimer(signal.ITIMER_REAL, max(remaining, 0.001), old_interval)
    if st.fired and not st.acknowledged:  # the block ended normally although ours fired: a Timeout was lost
        raise Timeout(st)
