"""Hardening harness: `gateway run` as a real child process on a private dev environment.

`GatewayProcess` starts `gateway run` with every door on free loopback ports (GATEWAY_* variables), waits
for /healthz, and offers the three ways in: `send_mail`, `drop_file`, `post`. It can be SIGKILLed and
restarted on the same var dir (crash drills) and keeps its stdout/stderr in files (leak checks).
"""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = Path(sys.executable).parent / "gateway"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def mail_with_pdf(pdf: bytes, *, name: str = "van-ban.pdf", subject: str = "Công văn", sender="vanthu@dev.test",
                  to=("nhan@dev.test",), extra_text: str = "Kính gửi") -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, ", ".join(to), subject
    msg.set_content(extra_text)
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename=name)
    return msg.as_bytes()


class GatewayProcess:
    """One `gateway run` child on `settings.var_dir`; restartable on the same ports and var dir."""

    def __init__(self, settings, logdir: Path, *, workers: int = 1, env: dict | None = None,
                 nofile: int | None = None) -> None:
        self.nofile = nofile  # RLIMIT_NOFILE (soft and hard) of the child: e.g. systemd's default 1024
        self.settings = settings
        self.logdir = Path(logdir)
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.ports = {"http": free_port(), "smtp": free_port(), "upstream": free_port()}
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_") and k != "KYSO_CONFIG"}
        self.env.update(
            GATEWAY_VAR_DIR=str(settings.var_dir),
            GATEWAY_LOG_FORMAT="json",
            GATEWAY_HTTP__PORT=str(self.ports["http"]),
            GATEWAY_SMTP__PORT=str(self.ports["smtp"]),
            GATEWAY_SMTP__UPSTREAM_PORT=str(self.ports["upstream"]),
            GATEWAY_SIGNING__WORKERS=str(workers),
            GATEWAY_FOLDERS__QUIET_SECONDS="0.3",
            GATEWAY_FOLDERS__RESCAN_SECONDS="1",
            GATEWAY_FOLDERS__RETRY_INITIAL_SECONDS="0.5",
            GATEWAY_FOLDERS__RETRY_MAX_SECONDS="2",
        )
        self.env.update(env or {})
        self.proc: subprocess.Popen | None = None
        self.runs = 0
        self.token = settings.paths.http_dev_token.read_text().strip()

    # --- lifecycle ---------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['http']}"

    @property
    def folders(self) -> Path:
        return Path(self.settings.var_dir) / "folders"

    @property
    def sink(self) -> Path:
        return Path(self.settings.var_dir) / "mail-sink"

    def start(self, timeout: float = 90.0) -> "GatewayProcess":
        self.runs += 1
        out = open(self.logdir / f"stdout.{self.runs}", "wb")
        err = open(self.logdir / f"stderr.{self.runs}", "wb")
        limit = self.nofile

        def preexec() -> None:
            if limit:
                import resource

                resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

        self.proc = subprocess.Popen([str(GATEWAY), "run"], cwd=ROOT, env=self.env, stdout=out, stderr=err,
                                     start_new_session=True, preexec_fn=preexec if limit else None)
        out.close()
        err.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"gateway run exited with {self.proc.returncode}: {self.stderr()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=5).status_code in (200, 503):
                    if self._smtp_up():
                        return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("gateway run did not come up: " + self.stderr()[-2000:])
            time.sleep(0.2)

    def _smtp_up(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.ports["smtp"]), timeout=2):
                return True
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL the whole process group (the gateway and its signing workers): a crash, no clean-up."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)

    def stop(self, timeout: float = 60.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def stderr(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.logdir.glob("stderr.*")))

    def outputs_text(self) -> bytes:
        return b"".join(p.read_bytes() for p in sorted(self.logdir.glob("std*.*")))

    # --- the three doors ---------------------------------------------------------------------------------

    def send_mail(self, raw: bytes, *, sender="vanthu@dev.test", to=("nhan@dev.test",), timeout=60.0):
        """(code, text) of the final reply to DATA; (None, error) when the connection broke."""
        try:
            with smtplib.SMTP("127.0.0.1", self.ports["smtp"], timeout=timeout) as s:
                s.ehlo("client.dev.test")
                s.mail(sender)
                for r in to:
                    s.rcpt(r)
                return s.data(raw)
        except smtplib.SMTPResponseException as exc:
            return exc.smtp_code, exc.smtp_error
        except (smtplib.SMTPException, OSError) as exc:
            return None, str(exc).encode()

    def drop_file(self, name: str, data: bytes) -> Path:
        """Write-then-rename into the inbox (the way a well-behaved client drops a file)."""
        inbox = self.folders / "inbox"
        tmp = inbox.parent / f".{name}.part"
        tmp.write_bytes(data)
        os.replace(tmp, inbox / name)
        return inbox / name

    def post(self, data: bytes, path: str = "/v1/documents:sign", timeout: float = 60.0, **kw) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/pdf", **kw.pop("headers", {})}
        return httpx.post(self.url + path, content=data, headers=headers, timeout=timeout, **kw)

    # --- what each door answered, in one vocabulary (sign / pass / reject / block ...), to compare doors ----

    def http_outcome(self, data: bytes, **kw) -> str:
        r = self.post(data, timeout=300, **kw)  # a scan-heavy corpus file queued behind others on 2 loaded workers
        if r.status_code == 200:
            return r.headers.get("x-kyso-outcome", "ok").lower()
        if r.status_code == 422:
            return "block" if r.json().get("code") == "SECRET_MARKED" else "reject"
        return f"http{r.status_code}"

    def smtp_outcome(self, raw: bytes) -> str:
        code, _ = self.send_mail(raw, timeout=120)
        return {250: "relayed", None: "no-answer"}.get(code, f"smtp{code}")

    def folder_outcome(self, name: str) -> str:
        """Where the folder door put the file whose name starts with `name`; "queued" while it has not."""
        for where, label in (("signed", "signed"), ("quarantine", "block"), ("rejected", "reject")):
            if any(p.name.startswith(name) for p in (self.folders / where).iterdir()):
                return label
        return "queued"


class GatewayInProcess(GatewayProcess):
    """`gateway.runtime.serve` on a thread of this process, with the same doors, ports and var dir as
    GatewayProcess would give `gateway run`: real sockets and folders, the Engine in this process (workers=1).
    What it adds: the readings this process already made (gateway.inspect.memo) are its readings too, so a
    test that read a corpus in-process does not OCR it a second time in a child. Not for crash drills (no
    SIGKILL of a thread): those use GatewayProcess."""

    def __init__(self, settings, logdir: Path, **kw) -> None:
        if kw.get("workers", 1) != 1:
            raise ValueError("in process: one worker (the Engine runs in this process)")
        super().__init__(settings, logdir, **kw)
        self._thread = None
        self._loop = None
        self._stop = None
        self._code: int | None = None
        self._error: BaseException | None = None

    def _settings(self):
        """The child's settings: the GATEWAY_SECTION__KEY variables GatewayProcess sets, as overrides."""
        from gateway.settings import load_settings

        over: dict = {}
        for name, value in self.env.items():
            if name.startswith("GATEWAY_") and "__" in name:
                section, key = name.removeprefix("GATEWAY_").lower().split("__", 1)
                over.setdefault(section, {})[key] = value
        return load_settings(var_dir=self.env["GATEWAY_VAR_DIR"], **over)

    def start(self, timeout: float = 90.0) -> "GatewayInProcess":
        import asyncio
        import threading

        from gateway.runtime import serve

        settings = self._settings()
        ready = threading.Event()
        self.runs += 1
        self._code, self._error = None, None

        def run() -> None:
            async def main() -> int:
                self._loop = asyncio.get_running_loop()
                self._stop = asyncio.Event()
                return await serve(settings, on_ready=lambda _lines: ready.set(), stop=self._stop)

            try:
                self._code = asyncio.run(main())
            except BaseException as exc:  # noqa: BLE001 - reported by start() / stop()
                self._error = exc
            finally:
                ready.set()

        self._thread = threading.Thread(target=run, name="gateway-in-process", daemon=True)
        self._thread.start()
        if not ready.wait(timeout) or self._error is not None or not self._thread.is_alive():
            error, self._thread = self._error, None  # reported here, once (stop() at teardown has nothing to do)
            raise AssertionError(f"gateway did not come up in process: {error!r}")
        return self

    def kill(self) -> None:
        raise NotImplementedError("a thread cannot be SIGKILLed: use GatewayProcess for crash drills")

    def stop(self, timeout: float = 60.0) -> int | None:
        if self._thread is None:
            return None
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout)
        if self._thread.is_alive():
            return None
        if self._error is not None:
            raise self._error
        return self._code
