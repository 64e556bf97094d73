"""The door contract, and the one registry of the ways documents leave the agency.

A door owns one protocol and nothing else. It turns protocol input (an SMTP transaction, a file in a
watched folder, an HTTP upload) into `Document`s, hands each to the shared engine (`engine.submit`), and
turns the `Result` back into its protocol's answer (an SMTP reply, a file moved with a note, an HTTP
status). A door decides nothing: secrecy, sender-signed mail, whole-message S/MIME, containers, kinds ...
are decided by policy in the pipeline and recorded there. Protocol codes appear only in doors.

    SIGN / PASS       -> deliver the signed output / the original (SMTP 250 only after the next hop said 250)
    REJECT / BLOCK    -> refuse with the rendered reasons (550 5.7.1, HTTP 422, file to rejected/ or quarantine)
    TemporaryError    -> "try again", the sender keeps the document (451, 503 + Retry-After, file stays queued)

Every door is built by `build(settings, engine) -> Door | None` in its module (None: disabled).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gateway.model import Channel


class Door(Protocol):
    """What `gateway run` needs of a door."""

    async def start(self) -> list[str]:
        """Start listening / watching; return banner lines (Vietnamese / English) saying where."""

    async def stop(self, grace: float) -> None:
        """Stop taking new input; finish what is in flight within `grace` seconds."""


@dataclass(frozen=True)
class DoorSpec:
    name: str  # as in `gateway run --only` and the settings section
    channel: Channel  # recorded on every document the door submits; chooses the policy's channel table
    module: str  # has build(settings, engine) -> Door | None
    vi: str
    en: str


# In start order (stopped in reverse). The CLI is a channel without a door: `gateway sign` / `check`.
DOORS: tuple[DoorSpec, ...] = (
    DoorSpec("smtp", Channel.SMTP, "gateway.smtp", "thư điện tử gửi đi", "outgoing mail"),
    DoorSpec("folder", Channel.FOLDER, "gateway.folderwatch", "thư mục xuất bản", "watched folders"),
    DoorSpec("http", Channel.PORTAL, "gateway.publish", "cổng thông tin điện tử", "web portal publishing hook"),
)

BY_NAME = {d.name: d for d in DOORS}
BY_CHANNEL = {d.channel: d for d in DOORS}


def door_names() -> tuple[str, ...]:
    return tuple(d.name for d in DOORS)
