"""A private Postfix instance for tests: own config dir, queue, log and loopback ports; no systemd, no syslog.

    pf = Postfix(sink_port=..., gateway_port=...)
    pf.start()            # `postfix -c <dir> start` (as root: alternate config dirs need no registration)
    pf.before_queue_port  # smtpd with smtpd_proxy_filter = gateway   (client waits for our answer)
    pf.after_queue_port   # smtpd with content_filter = gateway       (queued, then delivered to us)
    pf.reinject_port      # smtpd without filters: the gateway's upstream; delivers to the sink (relayhost)
    pf.stop()

Ports are chosen free at start. Queue timers are shortened so deferred mail is retried within seconds.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
DAEMONS = Path("/usr/lib/postfix/sbin")


def available() -> bool:
    return Path(POSTFIX).exists() and (DAEMONS / "master").exists()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


MASTER_CF = """\
# service type  private unpriv  chroot  wakeup  maxproc command + args
{bq} inet n - n - 10 smtpd
  -o syslog_name=postfix/before-queue
  -o smtpd_proxy_filter=127.0.0.1:{gw}
  -o smtpd_proxy_timeout=120s
{aq} inet n - n - 10 smtpd
  -o syslog_name=postfix/after-queue
  -o content_filter=kysofilter:[127.0.0.1]:{gw}
{re} inet n - n - 10 smtpd
  -o syslog_name=postfix/reinject
  -o content_filter=
  -o smtpd_proxy_filter=
  -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks,no_milters,no_address_mappings
kysofilter unix - - n - 4 smtp
  -o syslog_name=postfix/kysofilter
  -o smtp_send_xforward_command=no
  -o disable_mime_output_conversion=yes
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       1       1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class Postfix:
    def __init__(self, *, sink_port: int, gateway_port: int) -> None:
        # Postfix daemons run as the postfix user: pytest's tmp dirs (0700 root) are not reachable for them,
        # so the instance lives in its own world-traversable temporary directory (removed by stop()).
        self.base = Path(tempfile.mkdtemp(prefix="kyso-postfix-"))
        self.base.chmod(0o755)
        self.conf = self.base / "etc"
        self.queue = self.base / "queue"
        self.log = self.base / "maillog"
        self.sink_port = sink_port
        self.gateway_port = gateway_port
        self.before_queue_port = free_port()
        self.after_queue_port = free_port()
        self.reinject_port = free_port()

    def main_cf(self) -> str:
        return f"""\
compatibility_level = 3.6
queue_directory = {self.queue}
data_directory = {self.base / "data"}
command_directory = /usr/sbin
daemon_directory = {DAEMONS}
shlib_directory = /usr/lib/postfix
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
syslog_name = kyso-test-postfix
maillog_file = {self.log}
maillog_file_prefixes = {self.base}
myhostname = postfix.kyso-test.local
mydomain = kyso-test.local
myorigin = $myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
relayhost = [127.0.0.1]:{self.sink_port}
smtp_dns_support_level = disabled
smtp_tls_security_level = none
smtpd_tls_security_level = none
smtputf8_enable = yes
message_size_limit = 60000000
# Retry deferred mail within seconds (the HSM-outage test waits for it).
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
delay_warning_time = 0
bounce_queue_lifetime = 1h
maximal_queue_lifetime = 1h
smtp_connect_timeout = 5s
default_destination_rate_delay = 0
"""

    def start(self, timeout: float = 30.0) -> None:
        for d in (self.conf, self.queue, self.base / "data"):
            d.mkdir(parents=True, exist_ok=True)
        (self.conf / "main.cf").write_text(self.main_cf())
        (self.conf / "master.cf").write_text(
            MASTER_CF.format(bq=f"127.0.0.1:{self.before_queue_port}", aq=f"127.0.0.1:{self.after_queue_port}",
                             re=f"127.0.0.1:{self.reinject_port}", gw=self.gateway_port)
        )
        shutil.chown(self.base / "data", "postfix", "postfix")
        self.postfix("check")
        self.postfix("start")
        self._wait_listening(timeout)

    def postfix(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        env = dict(os.environ, MAIL_CONFIG=str(self.conf))
        res = subprocess.run([POSTFIX, "-c", str(self.conf), *args], capture_output=True, text=True, env=env,
                             timeout=60)
        if check and res.returncode != 0:
            raise RuntimeError(f"postfix {' '.join(args)} failed: {res.stderr.strip()[-800:]}\n{self.maillog()[-2000:]}")
        return res

    def _wait_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for port in (self.before_queue_port, self.after_queue_port, self.reinject_port):
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), 1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"postfix did not listen on {port}:\n{self.maillog()[-2000:]}")
                    time.sleep(0.1)

    def flush(self) -> None:
        self.postfix("flush", check=False)

    def queue_ids(self) -> list[str]:
        res = subprocess.run(["postqueue", "-c", str(self.conf), "-j"], capture_output=True, text=True, timeout=30)
        import json

        return [json.loads(line)["queue_id"] for line in res.stdout.splitlines() if line.strip()]

    def maillog(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else getattr(self, "saved_log", "")

    def stop(self) -> None:
        self.postfix("stop", check=False)
        # postfix stop returns before master exits; wait so the next instance's ports/queue are free
        pid_file = self.queue / "pid" / "master.pid"
        deadline = time.monotonic() + 15
        while pid_file.exists() and time.monotonic() < deadline:
            try:
                pid = int(pid_file.read_text().split()[0])
                os.kill(pid, 0)
            except (ValueError, ProcessLookupError, IndexError):
                break
            time.sleep(0.1)
        self.saved_log = self.maillog()
        shutil.rmtree(self.base, ignore_errors=True)
