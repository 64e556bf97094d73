"""Key access on a real SoftHSM token: PIN latch, lost token / session recovery, concurrency."""

from __future__ import annotations

import multiprocessing
import shutil
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import pytest
from util import make_pdf, pdfsig

from gateway.errors import PinRejected, SignerUnavailable
from gateway.settings import load_settings
from gateway.signing import OrgSigner, PdfSignRequest
from gateway.model import Appearance

CKF_USER_PIN_COUNT_LOW = 0x00010000


@pytest.fixture(scope="module")
def small_pdf(tmp_path_factory) -> Path:
    return make_pdf(tmp_path_factory.mktemp("keys") / "in.pdf", title="CÔNG VĂN")


def _ok(path: Path, nssdb: Path, n: int = 1) -> None:
    sigs = pdfsig(path, nssdb)
    assert len(sigs) == n and all(s["valid"] and s["trusted"] for s in sigs), sigs


def test_wrong_pin_tried_once_and_latched(private_dev_settings, small_pdf, tmp_path):
    s = private_dev_settings
    good_pin = s.token.read_pin()
    bad = load_settings(var_dir=s.var_dir, token={"pin": "000000-wrong"})
    assert bad.token.read_pin() != good_pin
    signer = OrgSigner(bad)
    for _ in range(3):
        with pytest.raises(PinRejected) as ei:
            signer.sign_pdf(small_pdf, tmp_path / "out.pdf")
        assert ei.value.code == "PIN_INCORRECT"
        assert not (tmp_path / "out.pdf").exists()
    assert signer.login_attempts == 1  # C_Login called once, never again
    assert signer.token_flags() & CKF_USER_PIN_COUNT_LOW  # the token saw exactly our one failure
    assert signer.health()["code"] == "PIN_INCORRECT"
    # the right PIN still works (the token was not locked by retries)
    with OrgSigner(s) as good:
        good.sign_pdf(small_pdf, tmp_path / "good.pdf")
        assert not good.token_flags() & CKF_USER_PIN_COUNT_LOW  # success reset the counter
    _ok(tmp_path / "good.pdf", s.paths.nssdb)


def _try_wrong_pin(var_dir: str, pin: str, src: str, dst: str) -> tuple[int, str]:
    """In a fresh (spawned) process: one OrgSigner with `pin` tries to sign; (C_Login calls, outcome code)."""
    s = load_settings(var_dir=var_dir, token={"pin": pin})
    signer = OrgSigner(s)
    try:
        signer.sign_pdf(Path(src), Path(dst))
        return signer.login_attempts, "signed"
    except PinRejected as exc:
        return signer.login_attempts, exc.code


def test_wrong_pin_tried_once_across_processes_and_restarts(private_dev_settings, small_pdf, tmp_path):
    """N workers, then a restart: the same wrong PIN reaches C_Login exactly once in all (Điều 7.2)."""
    s = private_dev_settings
    ctx = multiprocessing.get_context("spawn")
    args = (str(s.var_dir), "111111-wrong", str(small_pdf), str(tmp_path / "x.pdf"))
    with ProcessPoolExecutor(3, mp_context=ctx) as pool:  # three "workers" starting together
        first = list(pool.map(_try_wrong_pin, *zip(*[args] * 3)))
    with ProcessPoolExecutor(1, mp_context=ctx) as pool:  # "after a restart"
        again = pool.submit(_try_wrong_pin, *args).result()
    assert all(code == "PIN_INCORRECT" for _, code in first + [again])
    assert sum(n for n, _ in first) + again[0] == 1, (first, again)
    assert s.token.pin_latch_file.exists() and "111111" not in s.token.pin_latch_file.read_text()
    # a new PIN is tried (once): here the right one, which signs
    with ProcessPoolExecutor(1, mp_context=ctx) as pool:
        n, outcome = pool.submit(_try_wrong_pin, str(s.var_dir), s.token.read_pin(), str(small_pdf),
                                 str(tmp_path / "good.pdf")).result()
    assert (n, outcome) == (1, "signed")
    _ok(tmp_path / "good.pdf", s.paths.nssdb)


def test_token_absent_is_temporary_and_recovers(private_dev_settings, small_pdf, tmp_path):
    s = private_dev_settings
    tokens = s.paths.softhsm / "tokens"
    moved = s.paths.softhsm / "tokens.away"
    signer = OrgSigner(s)
    shutil.move(tokens, moved)
    try:
        tokens.mkdir()  # an empty token directory: SoftHSM starts, our token is not there
        with pytest.raises(SignerUnavailable) as ei:
            signer.sign_pdf(small_pdf, tmp_path / "out.pdf")
        assert not isinstance(ei.value, PinRejected) and ei.value.code == "TOKEN_UNAVAILABLE"
        assert signer.health()["ok"] is False
    finally:
        shutil.rmtree(tokens)
        shutil.move(moved, tokens)
    out = signer.sign_pdf(small_pdf, tmp_path / "out.pdf")  # same signer, no restart
    _ok(out.path, s.paths.nssdb)
    assert signer.health()["ok"] is True


def test_lost_session_reopens(dev_settings, small_pdf, tmp_path):
    signer = OrgSigner(dev_settings)
    signer.sign_pdf(small_pdf, tmp_path / "a.pdf")
    signer._key._session.close()  # the session dies behind the signer's back (device reset)
    out = signer.sign_pdf(small_pdf, tmp_path / "b.pdf")
    _ok(out.path, dev_settings.paths.nssdb)
    signer.close()


def test_missing_module_is_temporary(dev_settings, small_pdf, tmp_path):
    s = load_settings(var_dir=dev_settings.var_dir, token={"module": "/nonexistent/libsofthsm2.so"})
    with pytest.raises(SignerUnavailable) as ei:
        OrgSigner(s).sign_pdf(small_pdf, tmp_path / "x.pdf")
    assert ei.value.code == "TOKEN_UNAVAILABLE" and not isinstance(ei.value, PinRejected)


def test_threads_sign_concurrently(dev_settings, small_pdf, tmp_path):
    """16 documents from 8 threads through one signer (and a second signer in the same process)."""
    a, b = OrgSigner(dev_settings), OrgSigner(dev_settings)

    def job(i: int) -> Path:
        signer = a if i % 3 else b
        req = PdfSignRequest(appearance=Appearance.TEXT, number=f"{i}/TEST")
        return signer.sign_pdf(small_pdf, tmp_path / f"t{i}.pdf", req).path

    with ThreadPoolExecutor(8) as ex:
        outs = list(ex.map(job, range(16)))
    for p in outs:
        _ok(p, dev_settings.paths.nssdb)


def _worker_sign(var_dir: str, src: str, dst: str) -> str:
    settings = load_settings(var_dir=var_dir)
    signer = _WORKER_SIGNER.get(var_dir) or _WORKER_SIGNER.setdefault(var_dir, OrgSigner(settings))
    return str(signer.sign_pdf(Path(src), Path(dst)).path)


_WORKER_SIGNER: dict = {}


def test_worker_processes_sign_concurrently(dev_settings, small_pdf, tmp_path):
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=ctx) as ex:
        futs = [
            ex.submit(_worker_sign, str(dev_settings.var_dir), str(small_pdf), str(tmp_path / f"p{i}.pdf"))
            for i in range(6)
        ]
        outs = [Path(f.result(timeout=120)) for f in futs]
    for p in outs:
        _ok(p, dev_settings.paths.nssdb)
