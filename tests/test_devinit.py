"""dev-init: what it makes, that it is marked DEV, private, idempotent, and that the key is in the token."""

from __future__ import annotations

import stat
import subprocess
import sys
import tomllib

from cryptography import x509
from cryptography.x509.oid import NameOID


def _mode(p) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_dev_material_shape(dev_settings):
    pki = dev_settings.paths.pki
    root = x509.load_pem_x509_certificate((pki / "root.pem").read_bytes())
    ca = x509.load_pem_x509_certificate((pki / "ca.pem").read_bytes())
    org = x509.load_pem_x509_certificate((pki / "org.pem").read_bytes())
    assert "RootCA chuyên dùng (DEV)" in root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "CA phục vụ các cơ quan Nhà nước (DEV)"
    assert org.issuer == ca.subject and ca.issuer == root.subject
    cn = org.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == dev_settings.organisation and "(DEV)" in cn
    assert org.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "VN"
    assert not org.subject.get_attributes_for_oid(NameOID.TITLE)
    ku = org.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and ku.content_commitment
    assert org.public_key().key_size == 3072
    crl = x509.load_der_x509_crl((pki / "ca.crl").read_bytes())
    assert crl.is_signature_valid(ca.public_key())
    # secrets are private
    assert _mode(dev_settings.paths.token_pin) == 0o600
    assert _mode(dev_settings.paths.secrets) == 0o700
    assert _mode(dev_settings.paths.http_dev_token) == 0o600


def test_persons_are_persons(dev_settings):
    from cryptography.hazmat.primitives.serialization import pkcs12

    pki = dev_settings.paths.pki
    titles = []
    for i in (1, 2):
        pw = (pki / f"person{i}.pass").read_text().strip().encode()
        key, cert, extra = pkcs12.load_key_and_certificates((pki / f"person{i}.p12").read_bytes(), pw)
        cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        org = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
        assert cn != org and "(DEV)" in cn
        titles.append(cert.subject.get_attributes_for_oid(NameOID.TITLE)[0].value)
        assert key is not None and len(extra) == 2
    assert titles == ["Chủ tịch", "Phó Chủ tịch"]


def test_key_generated_in_token_not_extractable(dev_settings):
    from pkcs11 import Attribute, ObjectClass

    from gateway.signing import keys

    ts = dev_settings.token
    with keys.TOKEN_LOCK:
        s = keys.open_user_session(ts)
        try:
            priv = s.get_key(object_class=ObjectClass.PRIVATE_KEY, label=ts.key_label)
            assert priv[Attribute.SENSITIVE] and not priv[Attribute.EXTRACTABLE]
            assert priv[Attribute.NEVER_EXTRACTABLE] and priv[Attribute.LOCAL]  # generated inside the token
            assert int.from_bytes(bytes(priv[Attribute.MODULUS]), 'big').bit_length() == 3072
            certs = list(s.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.LABEL: ts.key_label}))
            assert len(certs) == 1 and bytes(certs[0][Attribute.ID]) == bytes(priv[Attribute.ID])
        finally:
            s.close()


def test_seal_is_red_and_transparent(dev_settings):
    from PIL import Image

    img = Image.open(dev_settings.appearance.seal_image).convert("RGBA")
    raw = img.tobytes()
    px = [raw[i : i + 4] for i in range(0, len(raw), 4)]
    transparent = sum(1 for p in px if p[3] == 0)
    red = sum(1 for p in px if p[3] > 200 and p[0] > 150 and p[1] < 60 and p[2] < 60)
    other = sum(1 for p in px if p[3] > 200 and not (p[0] > 150 and p[1] < 60 and p[2] < 60))
    assert transparent > len(px) * 0.4 and red > len(px) * 0.03
    assert other < red * 0.2  # anti-aliasing only


def test_nssdb_trusts_root_and_http_clients(dev_settings):
    out = subprocess.run(
        ["certutil", "-L", "-d", f"sql:{dev_settings.paths.nssdb}"], capture_output=True, text=True, check=True
    ).stdout
    assert any(line.startswith("Kyso RootCA DEV") and "CT,C,C" in line for line in out.splitlines())
    import hashlib

    token = dev_settings.paths.http_dev_token.read_text().strip()
    clients = tomllib.loads(dev_settings.http.clients_file.read_text())["clients"]
    assert clients[0]["name"] == "dev-portal"
    assert clients[0]["token_sha256"] == hashlib.sha256(token.encode()).hexdigest()


def test_idempotent_and_cli(tmp_path):
    """Second run reuses everything (same key, same certificate); the CLI says so in both languages."""
    env_var = tmp_path / "var"
    cmd = [sys.executable, "-m", "gateway", "dev-init"]
    env = {"GATEWAY_VAR_DIR": str(env_var), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    first = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "đã tạo / created" in first.stdout and "DEV" in first.stdout
    org1 = (env_var / "pki" / "org.pem").read_bytes()
    pin1 = (env_var / "secrets" / "token-pin").read_text()
    second = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert second.returncode == 0, second.stderr
    assert "đã tạo / created" not in second.stdout and "dùng lại / reused" in second.stdout
    assert (env_var / "pki" / "org.pem").read_bytes() == org1
    assert (env_var / "secrets" / "token-pin").read_text() == pin1
    assert pin1.strip() not in first.stdout + second.stdout  # the PIN is never printed


def test_nssdb_rebuilt_when_ca_changes(tmp_path):
    """A new CA (root files removed) is picked up: certificates reissued, NSS db rebuilt."""
    from util import make_dev_settings

    from gateway.devinit import dev_init

    s = make_dev_settings(tmp_path)
    old_root = (s.paths.pki / "root.pem").read_bytes()
    (s.paths.pki / "root.pem").unlink()
    m = dev_init(s)
    assert (s.paths.pki / "root.pem").read_bytes() != old_root
    assert any("NSS" in c for c in m.created) and any("org certificate" in c for c in m.created)
    assert any("org key" in r for r in m.reused)  # the key in the token stays
    org = x509.load_pem_x509_certificate((s.paths.pki / "org.pem").read_bytes())
    ca = x509.load_pem_x509_certificate((s.paths.pki / "ca.pem").read_bytes())
    assert org.issuer == ca.subject
