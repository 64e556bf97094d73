"""Policies: the ordered rule chain declared in policies/*.toml, and the loop that walks it.

A policy file (see policies/README.md):

    id = "kyso-default"              # required, string
    version = "2025.1"               # required, string
    description = "..."              # optional
    applies_to = ["portal"]          # optional: channels this file is for; omitted = the default policy
    chain = ["secret_marked", ...]   # required: rule names from gateway.rules, in order
    [options]                        # optional: rule options for every channel
    non_pdf = "reject"
    [channels.portal]                # optional: per-channel overrides (options, or a whole `chain`)
    internal_circulation = "reject"
    [kinds.report]                   # optional: per-kind overrides, applied after the channel's
    chain = [...]
    [roles.embedded]                 # optional: per-role overrides for members of a container (body, inline,
    chain = [...]                    # embedded, document), applied last

How the outcome is derived (Mailman's chain, but every refusal is collected first):
- every rule in the chain is checked and every refusing or warning hit is recorded;
- PASS and SIGN are alternatives: the first rule in chain order that answers PASS or SIGN chooses,
  later PASS/SIGN answers are not evaluated (so the chain's order says "already signed" beats "sign");
- the outcome is BLOCK if any rule asked BLOCK, else REJECT if any asked REJECT, else the chosen
  PASS/SIGN, else REJECT (POLICY_REFUSED: nothing allowed it — fail closed);
- `Decision.reasons` are the reasons of the hits that share the outcome; warnings (hits asking no
  outcome, and warnings inspection found) go to `Decision.warnings`.

Containers (issue 12): the members of a document (`Facts.members`) are decided first, each by the same policy
with its own role, and their decisions reach the rules (`RuleContext.members`): the rule `members`
aggregates them. A member that is only read (role body, inline, embedded) is never signed: a SIGN answer
for it becomes PASS (MEMBER_READ), its carrier's signature covers it.

A bad file (syntax, unknown key or rule, wrong type or value) raises ConfigError naming file, line, key.
Pure module: tomllib is the only parser; no third-party import.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

from gateway.errors import ConfigError
from gateway.kinds import resolve as resolve_kind
from gateway.model import ROLES, Channel, Decision, DocKind, Document, Facts, MemberDecision, Outcome, Reason, RuleHit
from gateway.rules import LIST_OPTIONS, OPTIONS, RULES, RuleContext, RuleResult

TOP_KEYS = {"id", "version", "description", "applies_to", "chain", "options", "channels", "kinds", "roles"}
OVERRIDE_KEYS = {"chain"} | set(OPTIONS) | set(LIST_OPTIONS)
POSITIVE = (Outcome.PASS, Outcome.SIGN)


@dataclass(frozen=True)
class Override:
    chain: tuple[str, ...] | None = None
    options: Mapping[str, "str | tuple[str, ...]"] = field(default_factory=dict)


@dataclass(frozen=True)
class Policy:
    id: str
    version: str
    source: str
    chain: tuple[str, ...]
    options: Mapping[str, "str | tuple[str, ...]"]
    description: str = ""
    applies_to: tuple[Channel, ...] = ()
    channels: Mapping[Channel, Override] = field(default_factory=dict)
    kinds: Mapping[DocKind, Override] = field(default_factory=dict)
    roles: Mapping[str, Override] = field(default_factory=dict)  # members of containers, by role

    # --- loading ---------------------------------------------------------------------------------

    @classmethod
    def from_file(cls, path: Path) -> "Policy":
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read policy file {path}: {exc}", detail=str(path)) from None
        return cls.from_text(text, str(path))

    @classmethod
    def from_text(cls, text: str, source: str = "<policy>") -> "Policy":
        return _Parser(text, source).parse()

    # --- deciding --------------------------------------------------------------------------------

    def resolved(self, channel: Channel, kind: DocKind, role: str = "document") -> tuple[tuple[str, ...], dict]:
        """The chain and options for one channel, kind and role (file < channel < kind < role)."""
        chain, options = self.chain, dict(self.options)
        for ov in (self.channels.get(channel), self.kinds.get(kind), self.roles.get(role)):
            if ov is not None:
                chain = ov.chain or chain
                options.update(ov.options)
        return chain, options

    def decide(self, doc: Document, facts: Facts, *, max_document_bytes: int | None = None,
               role: str = "document") -> Decision:
        # The kind the rules see: declared vs inferred from the Decree 30 form (gateway.kinds, issue 14).
        choice = resolve_kind(doc, facts)
        if choice.kind is not doc.kind:
            doc = replace(doc, kind=choice.kind)
        decision = self._decide(doc, facts, max_document_bytes, role)
        extra = (choice.warning,) if choice.warning else ()
        return replace(decision, kind=choice.kind, kind_basis=choice.basis,
                       warnings=_unique(list(decision.warnings) + list(extra)))

    def _decide(self, doc: Document, facts: Facts, max_document_bytes: int | None, role: str = "document") -> Decision:
        # A container's members first, each by this same policy with its own role (rule `members` reads them).
        members = tuple(
            MemberDecision(
                m.location, m.document.name, m.role, m.document.id,
                self.decide(m.document, m.facts, max_document_bytes=max_document_bytes, role=m.role),
            )
            for m in facts.members
        )
        chain, options = self.resolved(doc.channel, doc.kind, role)
        ctx = RuleContext(self.id, options, max_document_bytes, members=members, role=role)
        hits: list[RuleHit] = []
        chosen: RuleResult | None = None
        for name in chain:
            result = RULES[name].check(doc, facts, ctx)
            if result is None:
                continue
            if result.outcome in POSITIVE:
                if chosen is not None:
                    continue  # an earlier PASS/SIGN rule already chose
                chosen = result
            hits.extend(RuleHit(name, result.outcome, r) for r in result.reasons)
        decision = self._decision(hits, chosen, facts)
        if role != "document" and decision.outcome is Outcome.SIGN:
            # Read, never signed: whatever the chain said, the carrier's signature covers this member.
            read = Reason.of("MEMBER_READ")
            decision = replace(decision, outcome=Outcome.PASS, reasons=(read,), sign_format=None, appearance=None,
                               anchor_field=None, hits=decision.hits + (RuleHit("(role)", Outcome.PASS, read),))
        return replace(decision, members=members)

    def _decision(self, hits: list[RuleHit], chosen: RuleResult | None, facts: Facts) -> Decision:
        asked = {h.outcome for h in hits}
        sign_format = appearance = anchor = None
        if Outcome.BLOCK in asked:
            outcome = Outcome.BLOCK
        elif Outcome.REJECT in asked:
            outcome = Outcome.REJECT
        elif chosen is not None:
            outcome = chosen.outcome
            sign_format, appearance, anchor = chosen.sign_format, chosen.appearance, chosen.anchor_field
        else:
            outcome = Outcome.REJECT
            hits.append(RuleHit("(end of chain)", Outcome.REJECT, Reason.of("POLICY_REFUSED")))
        warnings = _unique([h.reason for h in hits if h.outcome is None] + list(facts.warnings))
        return Decision(
            outcome=outcome,
            reasons=tuple(h.reason for h in hits if h.outcome is outcome),
            hits=tuple(hits),
            policy_id=self.id,
            policy_version=self.version,
            sign_format=sign_format,
            appearance=appearance,
            warnings=warnings,
            anchor_field=anchor,
        )


def _unique(reasons: list[Reason]) -> tuple[Reason, ...]:
    return tuple(dict.fromkeys(reasons))


@dataclass(frozen=True)
class PolicySet:
    """Every policy file of a directory: one default, and at most one per channel (`applies_to`)."""

    default: Policy
    by_channel: Mapping[Channel, Policy] = field(default_factory=dict)

    def for_channel(self, channel: Channel) -> Policy:
        return self.by_channel.get(channel, self.default)

    def decide(self, doc: Document, facts: Facts, *, max_document_bytes: int | None = None) -> Decision:
        return self.for_channel(doc.channel).decide(doc, facts, max_document_bytes=max_document_bytes)

    @property
    def policies(self) -> tuple[Policy, ...]:
        return (self.default, *dict.fromkeys(self.by_channel.values()))


def load_policies(directory: Path) -> PolicySet:
    """Load and check every *.toml in `directory`; ConfigError at the first problem."""
    files = sorted(Path(directory).glob("*.toml"))
    if not files:
        raise ConfigError(f"no policy file (*.toml) in {directory}", detail=f"policy dir {directory}")
    default: Policy | None = None
    by_channel: dict[Channel, Policy] = {}
    seen: dict[str, str] = {}
    for path in files:
        p = Policy.from_file(path)
        if p.id in seen:
            raise ConfigError(f"{path}:1: id: policy id {p.id!r} also used by {seen[p.id]}", detail="id")
        seen[p.id] = str(path)
        if not p.applies_to:
            if default is not None:
                raise ConfigError(
                    f"{path}:1: applies_to: two default policies ({default.source}); give one an applies_to",
                    detail="applies_to",
                )
            default = p
        for ch in p.applies_to:
            if ch in by_channel:
                raise ConfigError(f"{path}: applies_to: channel {ch} also in {by_channel[ch].source}", detail="applies_to")
            by_channel[ch] = p
    if default is None:
        raise ConfigError(f"{directory}: no default policy (a file without applies_to)", detail="applies_to")
    return PolicySet(default, by_channel)


class _Parser:
    """Checks a policy file's structure and reports problems with file, line and key."""

    def __init__(self, text: str, source: str) -> None:
        self.text, self.source = text, source
        self.lines = text.splitlines()

    def fail(self, table: str, key: str, problem: str) -> ConfigError:
        dotted = f"{table}.{key}" if table else key
        line = self.line_of(table, key)
        return ConfigError(
            f"chính sách không hợp lệ / invalid policy: {self.source}:{line}: {dotted}: {problem}",
            detail=f"{self.source}:{line}: {dotted}",
        )

    def line_of(self, table: str, key: str) -> int:
        """1-based line of `key` inside `[table]` (or of the table header); 1 when not found."""
        current = ""
        header_line = None
        key_re = re.compile(r'^\s*"?' + re.escape(key) + r'"?\s*=')
        for n, raw in enumerate(self.lines, 1):
            stripped = raw.strip()
            m = re.match(r"^\[\s*([^\]]+?)\s*\]", stripped)
            if m:
                current = m.group(1).replace('"', "").replace(" ", "")
                if current == (f"{table}.{key}" if table else key):
                    return n
                if current == table:
                    header_line = n
                continue
            if current == table and key_re.match(raw):
                return n
        return header_line or 1

    def parse(self) -> Policy:
        try:
            data = tomllib.loads(self.text)
        except tomllib.TOMLDecodeError as exc:
            m = re.search(r"line (\d+)", str(exc))
            line = m.group(1) if m else "1"
            raise ConfigError(
                f"chính sách sai cú pháp / policy syntax error: {self.source}:{line}: {exc}",
                detail=f"{self.source}:{line}",
            ) from None
        for key in data:
            if key not in TOP_KEYS:
                raise self.fail("", key, "khóa không được hỗ trợ / unknown key")
        for key in ("id", "version", "chain"):
            if key not in data:
                raise ConfigError(
                    f"chính sách không hợp lệ / invalid policy: {self.source}:1: {key}: thiếu / missing",
                    detail=f"{self.source}:1: {key}",
                )
        pid = self.string("", "id", data["id"])
        version = self.string("", "version", data["version"])
        description = self.string("", "description", data.get("description", ""), empty_ok=True)
        chain = self.chain("", data["chain"])
        options: dict = {name: default for name, (_, default) in OPTIONS.items()}
        options.update({name: () for name in LIST_OPTIONS})
        options.update(self.options("options", self.table("", "options", data.get("options", {}))))
        applies = data.get("applies_to", [])
        if not isinstance(applies, list):
            raise self.fail("", "applies_to", "phải là danh sách / must be a list of channels")
        applies_to = tuple(self.enum("", "applies_to", Channel, v) for v in applies)
        channels = {
            self.enum("channels", name, Channel, name): self.override(f"channels.{name}", t)
            for name, t in self.table("", "channels", data.get("channels", {})).items()
        }
        kinds = {
            self.enum("kinds", name, DocKind, name): self.override(f"kinds.{name}", t)
            for name, t in self.table("", "kinds", data.get("kinds", {})).items()
        }
        roles = {
            self.role(name): self.override(f"roles.{name}", t)
            for name, t in self.table("", "roles", data.get("roles", {})).items()
        }
        return Policy(pid, version, self.source, chain, options, description, applies_to, channels, kinds, roles)

    def role(self, name: str) -> str:
        if name not in ROLES:
            raise self.fail("roles", name, f"vai trò không hợp lệ / invalid role {name!r} (allowed: {', '.join(ROLES)})")
        return name

    def string(self, table: str, key: str, value: object, *, empty_ok: bool = False) -> str:
        if not isinstance(value, str) or (not value.strip() and not empty_ok):
            raise self.fail(table, key, "phải là chuỗi không rỗng / must be a non-empty string")
        return value

    def table(self, table: str, key: str, value: object) -> dict:
        if not isinstance(value, dict):
            raise self.fail(table, key, "phải là một bảng / must be a table")
        return value

    def enum(self, table: str, key: str, enum_cls, value: object):
        try:
            return enum_cls(value)
        except ValueError:
            allowed = ", ".join(e.value for e in enum_cls)
            raise self.fail(table, key, f"giá trị không hợp lệ / invalid value {value!r} (allowed: {allowed})") from None

    def chain(self, table: str, value: object) -> tuple[str, ...]:
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise self.fail(table, "chain", "phải là danh sách tên luật / must be a non-empty list of rule names")
        for name in value:
            if name not in RULES:
                raise self.fail(table, "chain", f"luật không tồn tại / unknown rule {name!r}")
        if len(set(value)) != len(value):
            raise self.fail(table, "chain", "luật lặp lại / a rule is listed twice")
        return tuple(value)

    def options(self, table: str, data: dict) -> dict:
        out: dict = {}
        for key, value in data.items():
            if key in LIST_OPTIONS:
                if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
                    raise self.fail(table, key, f"phải là danh sách chuỗi / must be a list of strings ({LIST_OPTIONS[key]})")
                out[key] = tuple(v.strip() for v in value)
                continue
            if key not in OPTIONS:
                raise self.fail(table, key, "khóa không được hỗ trợ / unknown key")
            allowed, _ = OPTIONS[key]
            if not isinstance(value, str) or value not in allowed:
                raise self.fail(table, key, f"giá trị không hợp lệ / invalid value {value!r} (allowed: {', '.join(allowed)})")
            out[key] = value
        return out

    def override(self, table: str, data: object) -> Override:
        if not isinstance(data, dict):
            raise self.fail("", table, "phải là một bảng / must be a table")
        for key in data:
            if key not in OVERRIDE_KEYS:
                raise self.fail(table, key, "khóa không được hỗ trợ / unknown key")
        chain = self.chain(table, data["chain"]) if "chain" in data else None
        return Override(chain, self.options(table, {k: v for k, v in data.items() if k != "chain"}))


def with_channel_option(ps: PolicySet, channel: Channel, name: str, value: str) -> PolicySet:
    """`ps` with option `name` set for one channel, unless a policy already sets it for that channel (the
    policy file wins). For settings that predate the policy option (settings.smtp.smime_sign -> smime)."""
    from dataclasses import replace

    def patch(p: Policy) -> Policy:
        ov = p.channels.get(channel, Override())
        if name in ov.options:
            return p
        channels = dict(p.channels)
        channels[channel] = replace(ov, options={**ov.options, name: value})
        return replace(p, channels=channels)

    return PolicySet(patch(ps.default), {c: patch(p) for c, p in ps.by_channel.items()})
