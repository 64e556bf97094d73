"""Policy files: loading, errors naming file/line/key, selection per channel and kind, outcome derivation."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.model import Channel, DocKind, Document, Facts, Outcome, SignFormat
from gateway.policy import Policy, load_policies
from gateway.settings import shipped_policies_dir

GOOD = """\
id = "p"
version = "1"
chain = ["secret_marked", "non_pdf", "sign_organisation"]
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def doc(kind=DocKind.ATTACHMENT, channel=Channel.CLI):
    return Document(channel=channel, name="a.pdf", content=b"x", kind=kind)


PDF = Facts(media_type="application/pdf", size=10, sha256="0" * 64)


@pytest.mark.parametrize(
    "text, line, key",
    [
        (GOOD + "colour = \"red\"\n", 4, "colour"),
        (GOOD.replace('"secret_marked", ', '"secret_marked", "no_such_rule", '), 3, "chain"),
        ('id = "p"\nversion = 2\nchain = ["exempt"]\n', 2, "version"),
        (GOOD + "\n[options]\nnon_pdf = \"sometimes\"\n", 6, "options.non_pdf"),
        (GOOD + "\n[options]\n\nwhatever = \"x\"\n", 7, "options.whatever"),
        (GOOD + "\n[channels.fax]\nnon_pdf = \"cades\"\n", 5, "channels.fax"),
        (GOOD + "\n[channels.smtp]\nnon_pdf = \"cades\"\nchian = []\n", 7, "channels.smtp.chian"),
        (GOOD + "\n[kinds.issued]\nchain = \"sign_organisation\"\n", 6, "kinds.issued.chain"),
        (GOOD + "applies_to = \"smtp\"\n", 4, "applies_to"),
        ('id = ""\nversion = "1"\nchain = ["exempt"]\n', 1, "id"),
        ('id = "p"\nversion = "1"\nchain = ["exempt", "exempt"]\n', 3, "chain"),
    ],
)
def test_bad_policy_names_file_line_key(tmp_path, text, line, key):
    path = write(tmp_path, "bad.toml", text)
    with pytest.raises(ConfigError) as err:
        Policy.from_file(path)
    msg = str(err.value)
    assert f"{path}:{line}: {key}:" in msg, msg


def test_syntax_error_names_line(tmp_path):
    path = write(tmp_path, "bad.toml", GOOD + "oops = \n")
    with pytest.raises(ConfigError, match=rf"{path}:4"):
        Policy.from_file(path)


def test_missing_required_key(tmp_path):
    path = write(tmp_path, "bad.toml", 'id = "p"\nchain = ["exempt"]\n')
    with pytest.raises(ConfigError, match="version"):
        Policy.from_file(path)


def test_load_dir_needs_exactly_one_default(tmp_path):
    with pytest.raises(ConfigError, match="no policy file"):
        load_policies(tmp_path)
    write(tmp_path, "a.toml", GOOD)
    write(tmp_path, "b.toml", GOOD.replace('id = "p"', 'id = "q"'))
    with pytest.raises(ConfigError, match="two default policies"):
        load_policies(tmp_path)


def test_duplicate_id_refused(tmp_path):
    write(tmp_path, "a.toml", GOOD)
    write(tmp_path, "b.toml", GOOD + 'applies_to = ["smtp"]\n')
    with pytest.raises(ConfigError, match="also used"):
        load_policies(tmp_path)


def test_applies_to_selects_per_channel(tmp_path):
    write(tmp_path, "default.toml", GOOD)
    write(tmp_path, "portal.toml", 'id = "portal"\nversion = "7"\napplies_to = ["portal"]\nchain = ["exempt"]\n')
    ps = load_policies(tmp_path)
    d = ps.decide(doc(channel=Channel.PORTAL), PDF)
    assert (d.outcome, d.policy_id, d.policy_version) == (Outcome.PASS, "portal", "7")
    assert d.reasons[0].code == "EXEMPT_BY_POLICY"
    d = ps.decide(doc(channel=Channel.SMTP), PDF)
    assert (d.outcome, d.policy_id) == (Outcome.SIGN, "p")


def test_kind_override_after_channel(tmp_path):
    p = Policy.from_text(
        GOOD + '\n[channels.smtp]\nnon_pdf = "cades"\n[kinds.report]\nchain = ["exempt"]\n[kinds.copy]\nnon_pdf = "reject"\n'
    )
    word = Facts(media_type="application/msword", size=10, sha256="0" * 64, signable=SignFormat.CADES)
    assert p.decide(doc(DocKind.ATTACHMENT, Channel.SMTP), word).outcome is Outcome.SIGN
    assert p.decide(doc(DocKind.COPY, Channel.SMTP), word).outcome is Outcome.REJECT
    assert p.decide(doc(DocKind.REPORT, Channel.SMTP), PDF).outcome is Outcome.PASS


def test_end_of_chain_fails_closed():
    p = Policy.from_text('id = "p"\nversion = "1"\nchain = ["secret_marked", "pdf_broken"]\n')
    d = p.decide(doc(), PDF)
    assert d.outcome is Outcome.REJECT and d.reasons[0].code == "POLICY_REFUSED"


def test_first_positive_rule_wins():
    p = Policy.from_text('id = "p"\nversion = "1"\nchain = ["exempt", "sign_organisation"]\n')
    d = p.decide(doc(), PDF)
    assert d.outcome is Outcome.PASS and [h.rule for h in d.hits] == ["exempt"]


def test_shipped_policies_load():
    ps = load_policies(shipped_policies_dir())
    assert ps.default.id == "kyso-default"
    chain, opts = ps.default.resolved(Channel.PORTAL, DocKind.ISSUED)
    assert opts["internal_circulation"] == "reject"
    assert ps.default.resolved(Channel.SMTP, DocKind.ATTACHMENT)[1]["non_pdf"] == "cades"
    assert ps.default.resolved(Channel.CLI, DocKind.ATTACHMENT)[1]["non_pdf"] == "reject"
