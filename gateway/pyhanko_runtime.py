"""How pyHanko runs inside the gateway's processes: its coroutines on one event loop per thread (`run_sync`),
and its aiohttp-importing modules kept out until something goes online with them (`defer_pyhanko_http`).

Shared by signing and validation (which inspection uses): a neutral module, so that validation does not
import the signing package. No import of pyHanko here.
"""

from __future__ import annotations

import asyncio
import threading


# pyHanko modules that import aiohttp at module level, and the names other modules take from them.
_AIOHTTP_MODULES = {
    "pyhanko_certvalidator.fetchers.aiohttp_fetchers": ("AIOHttpFetcherBackend",),
    "pyhanko.sign.timestamps.aiohttp_client": ("HTTPTimeStamper",),
}


def defer_pyhanko_http() -> None:
    """Keep aiohttp (~11 MB resident) out of a process until something actually goes online with it.

    pyHanko 0.38 imports aiohttp at module level in its timestamp client (`pyhanko.sign.timestamps`) and in
    `pyhanko.sign.validation.ades` (certvalidator's aiohttp fetchers); every signing import goes through
    both, while B-B signing and offline validation never touch the network. Before pyHanko is first
    imported, stand-in modules are registered whose classes import the real modules on first use (as
    pyhanko-certvalidator itself does in `default_fetcher_backend`). No effect once pyHanko is loaded.
    """
    import sys
    import types

    if any(name in sys.modules for name in ("pyhanko.sign", "pyhanko_certvalidator.fetchers", *_AIOHTTP_MODULES)):
        return
    for name, attrs in _AIOHTTP_MODULES.items():
        stub = types.ModuleType(name)
        stub.__doc__ = "gateway stand-in: the real module is imported on first use (gateway.pyhanko_runtime.defer_pyhanko_http)"
        stub._gateway_stub = True
        for attr in attrs:
            setattr(stub, attr, _deferred(name, attr))
        sys.modules[name] = stub


def _deferred(module: str, attr: str):
    def make(*args, **kwargs):
        return getattr(_real_modules()[module], attr)(*args, **kwargs)

    make.__name__ = make.__qualname__ = attr
    return make


def _real_modules() -> dict:
    import importlib
    import sys

    out = {}
    for name in _AIOHTTP_MODULES:  # the fetchers first: the timestamp client imports from them
        mod = sys.modules.get(name)
        if mod is None or getattr(mod, "_gateway_stub", False):
            sys.modules.pop(name, None)
            mod = importlib.import_module(name)
            parent, _, child = name.rpartition(".")
            if parent in sys.modules:
                setattr(sys.modules[parent], child, mod)
        out[name] = mod
    return out


_LOOPS = threading.local()


def run_sync(coro):
    """Run a coroutine to completion, also when called from a thread that already runs an event loop.

    One event loop per thread, kept for the thread's life: `asyncio.run` builds and tears down a loop (and its
    default executor) per call, ~5 % of a 1 MB signature. A loop left in doubt by an interrupt is dropped.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        loop = getattr(_LOOPS, "loop", None)
        if loop is None or loop.is_closed():
            loop = _LOOPS.loop = asyncio.new_event_loop()
        try:
            return loop.run_until_complete(coro)
        except Exception:
            raise
        except BaseException:  # KeyboardInterrupt, a deadline: do not reuse a loop that was cut short
            _LOOPS.loop = None
            try:
                loop.close()
            except Exception:  # noqa: BLE001 - still running or tasks pending: let it be collected
                pass
            raise
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as ex:  # a throw-away thread: a throw-away loop
        return ex.submit(asyncio.run, coro).result()
