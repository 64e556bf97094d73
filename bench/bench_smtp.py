"""SMTP: messages carrying one 1 MB PDF, through the gateway's SMTP door to a sink vs a plain relay.

Same run, same sink, same messages, loopback. Each relay under test runs in its own process, as the
gateway does in production; the clients and the sink share the bench process (they would otherwise take
a quarter of the relay's interpreter lock):
  sink           a minimal fast SMTP receiver that accepts and counts (its own thread and event loop)
  clients        a minimal raw SMTP client (pre-encoded, dot-stuffed messages): cheap load generation
  plain relay    stock aiosmtpd handler relaying each message asynchronously with aiosmtplib (a new
                 connection per message), answering 250 only after the sink accepted; its per-line DATA
                 reader and aiosmtplib's regexes cap it well below the goal
  gw relay       the gateway's own SMTP layer without the gateway: GatewaySMTP (block DATA reader) +
                 RelayHandler + relay.Upstream (MAIL/RCPT mirrored at once, 250 after the sink's 250), the
                 message relayed as received, no MIME index, no signing. The fair baseline: the same relay
                 architecture, so gateway - gw relay = what finding, signing and splicing documents adds
  gateway        gateway.smtp door + gateway.engine.Engine (2 workers by default), upstream = the sink
  direct         the clients straight to the sink: the ceiling of the load generator itself
Two phases per side: latency (1 client, sequential) and throughput (C concurrent clients).
Added latency = gateway p50 - gw relay p50 - signing p50 (the same PDF through Engine.submit alone);
also reported against the plain relay. Paired: each message through the gw relay, the gateway and its PDF
through Engine.submit alone in turn; the p50 of the per-message differences (robust to the machine's drift).
Goals (issue 8): added p50 <= 15 ms, >= 30 messages/s sustained, 0 errors.

    .venv/bin/python -m bench.bench_smtp [--smoke] [--n N] [--clients C] [--workers W]
                                         [--side both|relay|gateway]
"""

from __future__ import annotations

import asyncio
import email.policy
import re
import sys
import threading
import time
from email.message import EmailMessage
from pathlib import Path

from bench.common import (
    MB,
    arg_parser,
    bench_env,
    pdf_corpus,
    print_table,
    summarize,
    write_json,
)

NAME = "smtp"
SENDER = "van.thu@kyso.example"
RCPT = "doi.tac@partner.example"


# --- a server in its own thread and loop ----------------------------------------------------------


class LoopThread:
    """An asyncio loop in a daemon thread, so servers do not share the clients' loop."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._t = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._t.start()

    def run(self, coro, timeout: float = 120.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._t.join(10)


async def _serve(handler, **smtp_kwargs) -> tuple[asyncio.base_events.Server, int]:
    from aiosmtpd.smtp import SMTP

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, data_size_limit=64 * MB, **smtp_kwargs), "127.0.0.1", 0
    )
    return server, server.sockets[0].getsockname()[1]


class FastSink(asyncio.Protocol):
    """The next hop: a minimal SMTP receiver that finds the end of DATA with one bytes.find per chunk.

    A real next hop (Postfix) is C; aiosmtpd as the sink would spend more CPU per message than the relay
    being measured, on the same 2 cores. Counts messages; accepts everything.
    """

    stats = {"count": 0, "bytes": 0}

    def connection_made(self, transport) -> None:
        self.t = transport
        self.buf = bytearray()
        self.in_data = False
        self.t.write(b"220 sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            if self.in_data:
                end = self.buf.find(b"\r\n.\r\n", max(0, self._scan - 4))
                if end < 0:
                    self._scan = len(self.buf)
                    return
                FastSink.stats["count"] += 1
                FastSink.stats["bytes"] += end + 2
                del self.buf[: end + 5]
                self.in_data = False
                self.t.write(b"250 2.0.0 OK queued\r\n")
                continue
            nl = self.buf.find(b"\r\n")
            if nl < 0:
                return
            line = bytes(self.buf[:nl]).upper()
            del self.buf[: nl + 2]
            verb = line[:4]
            if verb == b"EHLO":
                self.t.write(b"250-sink\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-PIPELINING\r\n250 SIZE 209715200\r\n")
            elif verb == b"DATA":
                self.in_data, self._scan = True, 0
                self.t.write(b"354 go ahead\r\n")
            elif verb == b"QUIT":
                self.t.write(b"221 bye\r\n")
                self.t.close()
                return
            elif verb in (b"HELO", b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                self.t.write(b"250 2.0.0 OK\r\n")
            else:
                self.t.write(b"502 5.5.2 not implemented\r\n")


async def _serve_sink() -> tuple[asyncio.base_events.Server, int]:
    server = await asyncio.get_running_loop().create_server(FastSink, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


class RelayHandler:
    """The plain relay: async, one aiosmtplib transaction per message, 250 only after the sink's 250."""

    def __init__(self, port: int) -> None:
        self.port = port

    async def handle_DATA(self, server, session, envelope):
        import aiosmtplib

        try:
            await aiosmtplib.send(
                envelope.original_content or envelope.content, sender=envelope.mail_from,
                recipients=envelope.rcpt_tos, hostname="127.0.0.1", port=self.port, timeout=60,
            )
        except aiosmtplib.SMTPException as exc:
            return f"451 4.4.1 upstream: {exc}"
        return "250 2.0.0 relayed"


async def _serve_gw_relay(sink_port: int) -> tuple[asyncio.base_events.Server, int]:
    """The gateway's SMTP layer relaying every message as received (see the module docstring)."""
    import ipaddress

    from gateway.smtp import replies
    from gateway.smtp.relay import Upstream
    from gateway.smtp.server import GatewaySMTP, RelayHandler, reply_text

    async def process(server, session, envelope) -> str:
        reply = await server.transaction.upstream.data(envelope.original_content)
        return reply_text(replies.upstream(reply), envelope)

    handler = RelayHandler(
        networks=[ipaddress.ip_network("127.0.0.0/8")],
        upstream_factory=lambda: Upstream("127.0.0.1", sink_port, starttls=False, timeout=60,
                                          local_hostname="relay.bench"),
        process=process, require_auth=False,
    )
    server = await asyncio.get_running_loop().create_server(
        lambda: GatewaySMTP(handler, max_message_bytes=64 * MB, hostname="relay.bench"), "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


# --- messages and clients -------------------------------------------------------------------------


def build_messages(pdfs: list[Path]) -> list[bytes]:
    """Messages with CRLF line endings, dot-stuffed and ending in CRLF: ready for DATA as they are."""
    out = []
    for i, p in enumerate(pdfs):
        m = EmailMessage()
        m["From"] = SENDER
        m["To"] = RCPT
        m["Subject"] = f"Cong van so {100 + i}/UBND-VP"
        m["Message-ID"] = f"<bench-{i}@kyso.example>"
        m.set_content("Kính gửi quý cơ quan, xin gửi kèm công văn.\n")
        m.add_attachment(p.read_bytes(), maintype="application", subtype="pdf", filename=f"cong-van-{i}.pdf")
        raw = m.as_bytes(policy=email.policy.SMTP)
        raw = (b"." + raw if raw.startswith(b".") else raw).replace(b"\r\n.", b"\r\n..")
        out.append(raw if raw.endswith(b"\r\n") else raw + b"\r\n")
    return out


def _stuffed(m: EmailMessage) -> bytes:
    raw = m.as_bytes(policy=email.policy.SMTP)
    raw = (b"." + raw if raw.startswith(b".") else raw).replace(b"\r\n.", b"\r\n..")
    return raw if raw.endswith(b"\r\n") else raw + b"\r\n"


def _mail(i: int, attachments: list[tuple[bytes, str, str, str]]) -> bytes:
    m = EmailMessage()
    m["From"], m["To"] = SENDER, RCPT
    m["Subject"] = f"Ho so so {200 + i}/UBND-VP"
    m["Message-ID"] = f"<bench-extra-{i}-{len(attachments)}@kyso.example>"
    m.set_content("Kính gửi quý cơ quan, xin gửi kèm hồ sơ.\n")
    for data, maintype, subtype, name in attachments:
        m.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return _stuffed(m)


def zip_messages(out: Path, count: int) -> list[bytes]:
    """Mails each carrying one .zip of 10 distinct PDFs (100 KB each, deflated)."""
    import io
    import zipfile

    pdfs = pdf_corpus(out / "pdfs", "100k", 100 * 1024, 10 * count)
    msgs = []
    for i in range(count):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for j in range(10):
                zf.writestr(f"cong-van-{j}.pdf", pdfs[i * 10 + j].read_bytes())
        msgs.append(_mail(i, [(buf.getvalue(), "application", "zip", f"ho-so-{i}.zip")]))
    return msgs


def docx_messages(out: Path, count: int) -> list[bytes]:
    """Mails each carrying one ~5 MB .docx as Word makes one: text paragraphs and a large photograph (a
    noisy JPEG, python-docx's add_picture), so every part is something the gateway reads."""
    import io
    import os

    import docx
    from docx.shared import Cm
    from PIL import Image

    msgs = []
    for i in range(count):
        d = docx.Document()
        d.add_heading(f"Báo cáo số {i}/UBND-VP", 1)
        for k in range(200):
            d.add_paragraph(f"Đoạn {k}: nội dung báo cáo tình hình thực hiện nhiệm vụ năm 2026.")
        d.core_properties.title = f"Bao cao {i}"
        side = 2300  # a noisy JPEG at this size: the .docx is about 5 MB
        photo = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
        jpeg = io.BytesIO()
        photo.save(jpeg, "JPEG", quality=92)
        jpeg.seek(0)
        d.add_picture(jpeg, width=Cm(15))
        buf = io.BytesIO()
        d.save(buf)
        msgs.append(_mail(i, [(buf.getvalue(), "application",
                               "vnd.openxmlformats-officedocument.wordprocessingml.document", f"bao-cao-{i}.docx")]))
    return msgs


class RawClient:
    """A minimal SMTP client: the load generator must cost little CPU (aiosmtplib re-normalises line
    endings of every message with a regex: a quarter of a core at these sizes)."""

    def __init__(self, port: int) -> None:
        self.port = port

    async def connect(self) -> None:
        self.r, self.w = await asyncio.open_connection("127.0.0.1", self.port, limit=1 << 20)
        await self.reply()
        await self.cmd(b"EHLO bench.kyso.example")

    async def reply(self) -> tuple[int, bytes]:
        lines = []
        while True:
            line = await self.r.readline()
            if not line:
                raise ConnectionError("server closed the connection")
            lines.append(line)
            if line[3:4] != b"-":
                return int(line[:3]), b"".join(lines)

    async def cmd(self, line: bytes, expect: int = 250) -> None:
        self.w.write(line + b"\r\n")
        code, text = await self.reply()
        if code != expect:
            raise SmtpRefused(code, text)

    async def send(self, sender: str, rcpt: str, raw: bytes) -> None:
        await self.cmd(f"MAIL FROM:<{sender}> SIZE={len(raw)}".encode())
        await self.cmd(f"RCPT TO:<{rcpt}>".encode())
        await self.cmd(b"DATA", 354)
        self.w.write(raw)
        await self.cmd(b".")

    async def close(self) -> None:
        try:
            await self.cmd(b"QUIT", 221)
        except (ConnectionError, SmtpRefused):
            pass
        self.w.close()


class SmtpRefused(Exception):
    def __init__(self, code: int, text: bytes) -> None:
        super().__init__(f"{code} {text[:300].decode('utf-8', 'replace').strip()}")
        self.code = code


async def send_all(port: int, messages: list[bytes], n: int, clients: int) -> dict:
    """`n` messages over `clients` connections (each reuses its connection); latency per message."""
    latencies: list[float] = []
    errors: list[str] = []
    counter = iter(range(n))

    async def client() -> None:
        c = RawClient(port)
        await c.connect()
        try:
            for i in counter:
                t0 = time.perf_counter()
                try:
                    await c.send(SENDER, RCPT, messages[i % len(messages)])
                    latencies.append(time.perf_counter() - t0)
                except SmtpRefused as exc:
                    errors.append(str(exc))
                    await c.cmd(b"RSET")
                except (ConnectionError, asyncio.IncompleteReadError) as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    c = RawClient(port)
                    await c.connect()
        finally:
            await c.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    wall = time.perf_counter() - t0
    return {"n": n, "clients": clients, "wall_s": wall, "msgs_per_s": len(latencies) / wall,
            "latency_ms": summarize(latencies, 1000.0), "errors": len(errors), "error_samples": errors[:5]}


async def measure(port: int, messages: list[bytes], n_lat: int, n_tput: int, clients: int, warm: int = 2) -> dict:
    # warm-up with `warm` concurrent messages: every signing worker must have taken one (a cold worker's
    # first document costs ~2 s of imports and login, which would land in the latency phase)
    await send_all(port, messages, warm, warm)
    return {"latency": await send_all(port, messages, n_lat, 1),
            "throughput": await send_all(port, messages, n_tput, clients)}


# --- gateway side ---------------------------------------------------------------------------------


def _door_port(door, banner: list[str]) -> int:
    for attr in ("port", "bound_port"):
        v = getattr(door, attr, None)
        if isinstance(v, int) and v:
            return v
    for line in banner:  # "SMTP: 127.0.0.1:10025 -> 127.0.0.1:10026"
        m = re.search(r"127\.0\.0\.1:(\d+)\s*->", line)
        if m:
            return int(m.group(1))
    raise RuntimeError(f"cannot find the SMTP door's port in {banner!r}")


async def signing_alone(engine, pdfs: list[Path], n: int, work: Path) -> dict:
    """The signing itself: the same PDFs through Engine.submit, sequentially (latency reference)."""
    from bench.bench_signing import _drop_output, pdf_document

    times = []
    for i in range(n):
        t0 = time.perf_counter()
        r = await engine.submit(pdf_document(pdfs[i % len(pdfs)]), out_dir=work)
        times.append(time.perf_counter() - t0)
        _drop_output(r)
    return {"latency_ms": summarize(times, 1000.0), "seconds": times}


def _child_main(kind: str, conn, opts: dict) -> None:
    """A relay under test in its own process (as `gateway run` is in production): the load generator and
    the sink stay in the parent, so they do not share this process's interpreter lock. Sends the port,
    then answers "signing" (gateway only) and "stop"."""
    if opts.get("softhsm2_conf"):
        import os

        os.environ["SOFTHSM2_CONF"] = opts["softhsm2_conf"]
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    sink_port = opts["sink_port"]

    async def serve_commands(engine=None, door=None) -> None:
        while True:
            cmd = await loop.run_in_executor(None, conn.recv)
            if cmd == "signing" and engine is not None:
                conn.send(await signing_alone(engine, opts["pdfs"], opts["n_lat"], opts["work"]))
            elif isinstance(cmd, tuple) and cmd[0] == "signing1" and engine is not None:
                # one PDF through Engine.submit, the i-th: the paired reference of one mail (seconds)
                pdf = opts["pdfs"][cmd[1] % len(opts["pdfs"])]
                conn.send((await signing_alone(engine, [pdf], 1, opts["work"]))["seconds"][0])
            elif cmd == "stop":
                if door is not None:
                    await door.stop(10.0)
                conn.send("stopped")
                return

    if kind != "gateway":
        server, port = loop.run_until_complete(
            _serve(RelayHandler(sink_port)) if kind == "relay" else _serve_gw_relay(sink_port))
        conn.send(port)
        loop.run_until_complete(serve_commands())
        server.close()
        return

    from gateway import smtp as smtp_door
    from gateway.engine import Engine
    from gateway.settings import load_settings

    settings = load_settings(
        None, var_dir=opts["var_dir"],
        smtp={"port": 0, "upstream_host": "127.0.0.1", "upstream_port": sink_port, "sink_enabled": False,
              "max_message_bytes": 64 * MB},
    )
    with Engine(settings, workers=opts["workers"]) as engine:
        door = smtp_door.build(settings, engine)
        banner = loop.run_until_complete(door.start())
        conn.send(_door_port(door, banner))
        loop.run_until_complete(serve_commands(engine, door))


class Child:
    """A relay under test running `_child_main` in a spawned process."""

    def __init__(self, kind: str, **opts) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self.conn, child_conn = ctx.Pipe()
        # not a daemon: the gateway's Engine starts worker processes of its own
        self.proc = ctx.Process(target=_child_main, args=(kind, child_conn, opts), name=f"bench-{kind}")
        self.proc.start()
        if not self.conn.poll(300):
            self.close()
            raise RuntimeError(f"bench {kind} server did not start")
        self.port = self.conn.recv()

    def ask(self, cmd: str, timeout: float = 600):
        self.conn.send(cmd)
        if not self.conn.poll(timeout):
            raise TimeoutError(cmd)
        return self.conn.recv()

    def close(self) -> None:
        if self.proc.is_alive():
            try:
                self.ask("stop", 60)
            except (OSError, EOFError, TimeoutError):
                pass
            self.proc.join(30)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(10)


def relay_side(kind: str, sink_port: int, messages, n_lat, n_tput, clients, extra=None) -> dict:
    child = Child(kind, sink_port=sink_port)
    try:
        res = asyncio.run(measure(child.port, messages, n_lat, n_tput, clients))
        for name, (msgs, n_l, n_t) in (extra or {}).items():
            res[name] = asyncio.run(measure(child.port, msgs, n_l, n_t, clients, warm=0))
        return res
    finally:
        child.close()


def gateway_side(env, sink_port: int, messages, pdfs, n_lat, n_tput, clients, workers, work: Path,
                 extra=None, paired: bool = False) -> dict:
    child = Child("gateway", sink_port=sink_port, var_dir=env.settings.var_dir, workers=workers, pdfs=pdfs,
                  n_lat=n_lat, work=work, softhsm2_conf=env.token.softhsm2_conf)
    try:
        res = asyncio.run(measure(child.port, messages, n_lat, n_tput, clients, warm=2 * workers))
        for name, (msgs, n_l, n_t) in (extra or {}).items():
            res[name] = asyncio.run(measure(child.port, msgs, n_l, n_t, clients, warm=workers))
        # the signing reference runs in the gateway's process, on the loop the door runs on
        res["signing_alone"] = child.ask("signing")
        if paired:
            relay = Child("gw_relay", sink_port=sink_port)
            try:
                res["paired"] = paired_latency(relay, child, messages, n_lat, workers)
            finally:
                relay.close()
        return res
    finally:
        child.close()


def paired_latency(relay: "Child", gw: "Child", messages, n: int, workers: int) -> dict:
    """The added latency from paired samples: for each message, the same message through the gw relay, then
    through the gateway, then its PDF through Engine.submit alone, one after the other. Each sample's
    added = gateway - gw relay - signing alone; the p50 of those. The three unpaired p50s are measured
    minutes apart, and on a shared VM the signing reference alone moved by 10 ms between runs."""

    async def one(port: int, raw: bytes) -> float:
        c = RawClient(port)
        await c.connect()
        try:
            t0 = time.perf_counter()
            await c.send(SENDER, RCPT, raw)
            return time.perf_counter() - t0
        finally:
            await c.close()

    async def run() -> dict:
        await send_all(relay.port, messages, 2, 1)
        samples = []
        for i in range(n):
            raw = messages[i % len(messages)]
            r = await one(relay.port, raw)
            g = await one(gw.port, raw)
            sgn = gw.ask(("signing1", i % len(messages)))
            samples.append((r, g, sgn, g - r - sgn))
        return {
            "n": n,
            "gw_relay_ms": summarize([x[0] for x in samples], 1000.0),
            "gateway_ms": summarize([x[1] for x in samples], 1000.0),
            "signing_alone_ms": summarize([x[2] for x in samples], 1000.0),
            "added_ms": summarize([x[3] for x in samples], 1000.0),
        }

    return asyncio.run(run())


# --- main -----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = arg_parser(__doc__.splitlines()[0], default_n=200)
    p.add_argument("--clients", type=int, default=None, help="concurrent clients (default 8)")
    p.add_argument("--workers", type=int, default=2, help="engine workers (default 2)")
    p.add_argument("--side", choices=("both", "relay", "gateway"), default="both",
                   help="measure only one side (e.g. to profile the gateway with py-spy)")
    a = p.parse_args(argv)
    n_tput = a.n or (3 if a.smoke else 200)
    n_lat = 2 if a.smoke else max(10, n_tput // 5)
    clients = a.clients or (2 if a.smoke else 8)
    env = bench_env(a.out)
    pdfs = pdf_corpus(a.out / "pdfs", "1m", MB, 2 if a.smoke else 20)
    messages = build_messages(pdfs)
    # Issue 12 rows: a mail carrying a .zip of 10 PDFs, one carrying a 5 MB .docx (fewer messages: bigger work)
    n_x = 2 if a.smoke else 5
    extra = {"zip10": (zip_messages(a.out, n_x), n_x, n_x * 2), "docx5m": (docx_messages(a.out, n_x), n_x, n_x * 2)}
    work = a.out / "work" / NAME
    work.mkdir(parents=True, exist_ok=True)

    servers = LoopThread("sink")
    sink, sink_port = servers.run(_serve_sink())
    sink_h = FastSink.stats
    res: dict = {"message_bytes": len(messages[0]), "clients": clients}
    try:
        if a.side == "both":
            # the load generator and sink alone: proves neither is the limit of what follows
            res["direct"] = {"throughput": asyncio.run(send_all(sink_port, messages, n_tput, clients))}
        if a.side != "gateway":
            for kind in ("relay", "gw_relay"):
                before = sink_h["count"]
                res[kind] = relay_side(kind, sink_port, messages, n_lat, n_tput, clients,
                                       extra if kind == "gw_relay" else None)
                res[kind]["sink_received"] = sink_h["count"] - before
        have_gateway = env.has_gateway and a.side != "relay"
        try:
            import gateway.engine  # noqa: F401
            from gateway.smtp import build  # noqa: F401
        except ImportError:
            have_gateway = False
            print("bench_smtp: gateway SMTP door / engine not available yet; gateway rows skipped", file=sys.stderr)
        if have_gateway:
            before = sink_h["count"]
            res["gateway"] = gateway_side(env, sink_port, messages, pdfs, n_lat, n_tput, clients, a.workers, work,
                                          extra, paired=a.side == "both")
            res["gateway"]["sink_received"] = sink_h["count"] - before
            if "paired" in res["gateway"]:
                res["paired"] = res["gateway"].pop("paired")
    finally:
        servers.run(_close(sink))
        servers.stop()

    rows = []
    for side in ("direct", "relay", "gw_relay", "gateway"):
        if side not in res:
            continue
        for phase in ("latency", "throughput"):
            if phase not in res[side]:
                continue
            r = res[side][phase]
            lat = r["latency_ms"]
            rows.append((side, phase, r["n"], r["clients"], r["msgs_per_s"], lat["p50"], lat["p95"], lat["p99"],
                         r["errors"]))
    if "gateway" in res:
        sign_p50 = res["gateway"]["signing_alone"]["latency_ms"]["p50"]
        res["signing_alone_p50_ms"] = sign_p50
        gw_p50 = res["gateway"]["latency"]["latency_ms"]["p50"]
        for base, key in (("gw_relay", "added_latency_p50_ms"), ("relay", "added_latency_vs_plain_relay_p50_ms")):
            if base in res:
                res[key] = gw_p50 - res[base]["latency"]["latency_ms"]["p50"] - sign_p50
    for side in ("gw_relay", "gateway"):
        for name in extra:
            for phase in ("latency", "throughput"):
                r = res.get(side, {}).get(name, {}).get(phase)
                if r:
                    lat = r["latency_ms"]
                    rows.append((f"{side} {name}", phase, r["n"], r["clients"], r["msgs_per_s"], lat["p50"],
                                 lat["p95"], lat["p99"], r["errors"]))
                    if r["errors"]:
                        print(f"{side} {name} {phase}: {r['error_samples'][:1]}")
    print_table(
        f"SMTP relay of messages with one 1 MB PDF ({len(messages[0]) / MB:.2f} MB on the wire), loopback",
        ["side", "phase", "n", "clients", "msgs/s", "p50 ms", "p95 ms", "p99 ms", "errors"],
        rows,
    )
    if "added_latency_p50_ms" in res:
        print(f"signing alone p50 {res['signing_alone_p50_ms']:.1f} ms; added latency p50 beyond signing and "
              f"the same relay (gw_relay) {res['added_latency_p50_ms']:.1f} ms, beyond signing and the plain "
              f"relay {res['added_latency_vs_plain_relay_p50_ms']:.1f} ms")
    if "paired" in res:
        pr = res["paired"]
        res["added_latency_paired_p50_ms"] = pr["added_ms"]["p50"]
        print(f"paired ({pr['n']} messages, each through the gw relay, the gateway and signing alone in turn): "
              f"gw relay p50 {pr['gw_relay_ms']['p50']:.1f} ms, gateway p50 {pr['gateway_ms']['p50']:.1f} ms, "
              f"signing alone p50 {pr['signing_alone_ms']['p50']:.1f} ms; added latency p50 "
              f"{pr['added_ms']['p50']:.1f} ms (p95 {pr['added_ms']['p95']:.1f} ms)")
    write_json(a.out, NAME, {"smoke": a.smoke, "results": res})
    return 0


async def _close(*servers) -> None:
    for s in servers:
        s.close()
        await s.wait_closed()


if __name__ == "__main__":
    raise SystemExit(main())
