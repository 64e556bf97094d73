"""Development material under var_dir: a SoftHSM2 token, a PKI shaped like the real one, a seal, secrets.

Everything made here is marked DEV and is for development and tests only. Shape of the real thing:
- Root "Kyso RootCA chuyên dùng (DEV)" (C=VN, O=Ban Cơ yếu Chính phủ (DEV)) -> issuing CA
  "CA phục vụ các cơ quan Nhà nước (DEV)" -> end-entity certificates, with a CRL from the issuing CA.
- The ORGANISATION certificate (the gateway's key, generated inside the token, RSA-3072, sensitive, never
  extractable): subject CN == O == the organisation's name, C=VN, no `title`. This is how the inspect side tells
  an organisation signature from a person's.
- PERSON ("competent person") certificates: CN is a person's name, `title` carries the post (Chủ tịch,
  Phó Chủ tịch), O is the organisation they work for, so CN != O. Kept as PKCS#12 files (keys in software; they
  stand in for the persons' own tokens) to sign test documents the way a competent person would.

Idempotent: each step reuses what exists and says so; when the CA is remade, what hangs off it (certificates,
CRL, NSS database) is remade too. Test helpers at the end issue organisation certificates with any validity
or revocation for the token key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from gateway.errors import ConfigError

ROOT_NAME = "Kyso RootCA chuyên dùng (DEV)"
ROOT_ORG = "Ban Cơ yếu Chính phủ (DEV)"
CA_NAME = "CA phục vụ các cơ quan Nhà nước (DEV)"
PERSONS = (
    ("Nguyễn Văn An (DEV)", "Chủ tịch"),
    ("Trần Thị Bình (DEV)", "Phó Chủ tịch"),
)
ORG_KEY_BITS = 3072
NSS_ROOT_NICK = "Kyso RootCA DEV"
NSS_CA_NICK = "Kyso CA DEV"


@dataclass(frozen=True)
class PersonMaterial:
    name: str
    title: str
    p12: Path
    password_file: Path
    cert: Path

    def password(self) -> bytes:
        return self.password_file.read_text(encoding="utf-8").strip().encode()


@dataclass(frozen=True)
class DevMaterial:
    var_dir: Path
    softhsm_conf: Path
    token_label: str
    key_label: str
    root: Path
    ca: Path
    crl: Path  # DER
    crl_pem: Path
    org_cert: Path
    persons: tuple[PersonMaterial, ...]
    seal: Path
    nssdb: Path
    http_dev_token: Path
    http_clients: Path
    created: tuple[str, ...] = ()
    reused: tuple[str, ...] = ()


@dataclass
class _Log:
    created: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)

    def made(self, what: str) -> None:
        self.created.append(what)

    def kept(self, what: str) -> None:
        self.reused.append(what)


# --- files ---------------------------------------------------------------------------------------


def _private_dir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    os.chmod(p, 0o700)
    return p


def _write_secret(path: Path, data: bytes | str) -> None:
    _private_dir(path.parent)
    if isinstance(data, str):
        data = data.encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, 0o600)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _load_key(path: Path):
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def _name(*pairs) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in pairs])


# --- PKI -----------------------------------------------------------------------------------------


class Pki:
    """The dev CA on disk (var/pki): loads or makes root and issuing CA, issues and revokes."""

    def __init__(self, pki_dir: Path) -> None:
        self.dir = pki_dir
        self.root_pem = pki_dir / "root.pem"
        self.root_key = pki_dir / "private" / "root.key"
        self.ca_pem = pki_dir / "ca.pem"
        self.ca_key = pki_dir / "private" / "ca.key"
        self.crl = pki_dir / "ca.crl"
        self.crl_pem = pki_dir / "ca.crl.pem"
        self.revoked_file = pki_dir / "revoked.txt"  # serials (hex) the CRL lists

    def ensure(self, log: _Log) -> bool:
        """Load or make root and CA; True when they were (re)made."""
        _private_dir(self.dir / "private")
        if all(p.exists() for p in (self.root_pem, self.root_key, self.ca_pem, self.ca_key)):
            log.kept("PKI: RootCA + CA (DEV)")
            return False
        root_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
        ca_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
        root_name = _name(
            (NameOID.COUNTRY_NAME, "VN"), (NameOID.ORGANIZATION_NAME, ROOT_ORG), (NameOID.COMMON_NAME, ROOT_NAME)
        )
        ca_name = _name(
            (NameOID.COUNTRY_NAME, "VN"), (NameOID.ORGANIZATION_NAME, ROOT_ORG), (NameOID.COMMON_NAME, CA_NAME)
        )
        root = _ca_certificate(root_name, root_key.public_key(), root_name, root_key, path_length=1)
        ca = _ca_certificate(ca_name, ca_key.public_key(), root_name, root_key, path_length=0)
        _write_secret(self.root_key, _key_pem(root_key))
        _write_secret(self.ca_key, _key_pem(ca_key))
        self.root_pem.write_bytes(_pem(root))
        self.ca_pem.write_bytes(_pem(ca))
        self.revoked_file.unlink(missing_ok=True)
        log.made(f"PKI: {ROOT_NAME} + {CA_NAME}")
        return True

    @property
    def ca(self) -> x509.Certificate:
        return _load_cert(self.ca_pem)

    @property
    def root(self) -> x509.Certificate:
        return _load_cert(self.root_pem)

    def crl_url(self) -> str:
        return self.crl.resolve().as_uri()

    def issue(
        self,
        subject: x509.Name,
        public_key,
        *,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        key_usage: x509.KeyUsage | None = None,
    ) -> x509.Certificate:
        now = _now()
        ca_key = _load_key(self.ca_key)
        ca = self.ca
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - dt.timedelta(hours=1))
            .not_valid_after(not_after or now + dt.timedelta(days=730))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(key_usage or signing_usage(), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .add_extension(
                x509.CRLDistributionPoints(
                    [x509.DistributionPoint([x509.UniformResourceIdentifier(self.crl_url())], None, None, None)]
                ),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )

    def write_crl(self, *, revoke: int | None = None) -> None:
        """(Re)write the CA's CRL, optionally adding a serial; valid from now for 30 days."""
        serials = self.revoked_serials()
        if revoke is not None:
            serials.add(revoke)
            self.revoked_file.write_text("".join(f"{s:x}\n" for s in sorted(serials)))
        now = _now()
        ca_key = _load_key(self.ca_key)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.ca.subject)
            .last_update(now - dt.timedelta(minutes=5))
            .next_update(now + dt.timedelta(days=30))
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
        )
        for s in sorted(serials):
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(s).revocation_date(now - dt.timedelta(minutes=1)).build()
            )
        crl = builder.sign(ca_key, hashes.SHA256())
        self.crl.write_bytes(crl.public_bytes(serialization.Encoding.DER))
        self.crl_pem.write_bytes(crl.public_bytes(serialization.Encoding.PEM))

    def revoked_serials(self) -> set[int]:
        if not self.revoked_file.exists():
            return set()
        return {int(x, 16) for x in self.revoked_file.read_text().split()}


def _ca_certificate(subject, public_key, issuer_name, issuer_key, *, path_length: int) -> x509.Certificate:
    now = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_ca_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
        .sign(issuer_key, hashes.SHA256())
    )


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def signing_usage(*, digital_signature: bool = True, non_repudiation: bool = True, key_encipherment: bool = False):
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=non_repudiation,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def org_subject(organisation: str) -> x509.Name:
    """Organisation certificate subject: CN == O (no title): that is what makes it an organisation's."""
    return _name(
        (NameOID.COUNTRY_NAME, "VN"),
        (NameOID.STATE_OR_PROVINCE_NAME, "Hà Nội"),
        (NameOID.ORGANIZATION_NAME, organisation),
        (NameOID.COMMON_NAME, organisation),
    )


def person_subject(name: str, title: str, organisation: str) -> x509.Name:
    """Person certificate subject: CN is the person, `title` the post, O the employer (CN != O)."""
    return _name(
        (NameOID.COUNTRY_NAME, "VN"),
        (NameOID.STATE_OR_PROVINCE_NAME, "Hà Nội"),
        (NameOID.ORGANIZATION_NAME, organisation),
        (NameOID.TITLE, title),
        (NameOID.COMMON_NAME, name),
    )


# --- token ---------------------------------------------------------------------------------------


def _softhsm_conf(paths, log: _Log) -> Path:
    tokens = _private_dir(paths.softhsm / "tokens")
    conf = paths.softhsm_conf
    text = (
        "# SoftHSM2 configuration for Kyso Gateway DEVELOPMENT (made by `gateway dev-init`)\n"
        f"directories.tokendir = {tokens.resolve()}\n"
        "objectstore.backend = file\n"
        "log.level = ERROR\n"
        "slots.removable = false\n"
    )
    if conf.exists() and conf.read_text() == text:
        log.kept(f"SoftHSM2 config {conf}")
    else:
        conf.write_text(text)
        log.made(f"SoftHSM2 config {conf}")
    return conf


def _token_present(settings) -> bool:
    from gateway.signing import keys

    with keys.TOKEN_LOCK:
        keys.reset(settings.token.module, settings.token.softhsm2_conf)
        m = keys.module(settings.token.module, settings.token.softhsm2_conf)
        return any(True for _ in m.lib.get_tokens(token_label=settings.token.token_label))


def _ensure_token(settings, conf: Path, log: _Log) -> None:
    paths = settings.paths
    label = settings.token.token_label
    if _token_present(settings):
        if not settings.token.pin and not (settings.token.pin_file and Path(settings.token.pin_file).exists()):
            raise ConfigError(
                f"token {label} exists but its PIN file is missing: remove {paths.softhsm} to start again",
                detail="token PIN file missing",
            )
        log.kept(f"SoftHSM token {label}")
        return
    if not shutil.which("softhsm2-util"):
        raise ConfigError("softhsm2-util not found: install the softhsm2 package", detail="softhsm2 missing")
    so_pin_file = paths.secrets / "token-so-pin"
    user_pin = settings.token.pin.get_secret_value() if settings.token.pin else None
    pin_file = Path(settings.token.pin_file) if settings.token.pin_file else paths.token_pin
    if user_pin is None:
        user_pin = pin_file.read_text().strip() if pin_file.exists() else secrets.token_hex(8)
        _write_secret(pin_file, user_pin + "\n")
    so_pin = secrets.token_hex(12)
    _write_secret(so_pin_file, so_pin + "\n")
    env = dict(os.environ, SOFTHSM2_CONF=str(conf.resolve()))
    res = subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", so_pin, "--pin", user_pin],
        env=env,
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        raise ConfigError(f"softhsm2-util --init-token failed: {res.stderr.strip()[:200]}", detail="token init")
    log.made(f"SoftHSM token {label} (PIN in {pin_file}, 0600)")


def _open_rw(settings):
    """A read-write logged-in session on the dev token (caller holds TOKEN_LOCK)."""
    from gateway.signing import keys

    return keys.open_user_session(settings.token, rw=True)


def _ensure_org_key(settings, log: _Log):
    """The RSA-3072 key pair inside the token; returns the public key (cryptography object)."""
    from pkcs11 import Attribute, KeyType, MechanismFlag, ObjectClass

    from gateway.signing import keys

    label = settings.token.key_label
    with keys.TOKEN_LOCK:
        s = _open_rw(settings)
        try:
            pubs = list(s.get_objects({Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.LABEL: label}))
            privs = list(s.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: label}))
            if pubs and privs:
                pub = pubs[0]
                log.kept(f"org key {label} (RSA-{ORG_KEY_BITS}, in token)")
            else:
                for obj in pubs + privs:
                    obj.destroy()
                key_id = secrets.token_bytes(8)
                pub, _priv = s.generate_keypair(
                    KeyType.RSA,
                    ORG_KEY_BITS,
                    id=key_id,
                    label=label,
                    store=True,
                    capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
                    private_template={
                        Attribute.SENSITIVE: True,
                        Attribute.EXTRACTABLE: False,
                        Attribute.PRIVATE: True,
                        Attribute.TOKEN: True,
                    },
                )
                log.made(f"org key {label} (RSA-{ORG_KEY_BITS}, generated inside the token, not extractable)")
            n = int.from_bytes(pub[Attribute.MODULUS], "big")
            ex = int.from_bytes(pub[Attribute.PUBLIC_EXPONENT], "big")
        finally:
            s.close()
    return rsa.RSAPublicNumbers(ex, n).public_key()


def install_org_certificate(settings, cert: x509.Certificate) -> None:
    """Store `cert` on the token beside the key (replacing any) and in var/pki/org.pem."""
    from pkcs11 import Attribute, CertificateType, ObjectClass

    from gateway.signing import keys

    label = settings.token.cert_label or settings.token.key_label
    der = cert.public_bytes(serialization.Encoding.DER)
    with keys.TOKEN_LOCK:
        s = _open_rw(settings)
        try:
            key_id = b""
            for priv in s.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: settings.token.key_label}):
                key_id = bytes(priv[Attribute.ID])
            for old in s.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.LABEL: label}):
                old.destroy()
            s.create_object(
                {
                    Attribute.CLASS: ObjectClass.CERTIFICATE,
                    Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
                    Attribute.TOKEN: True,
                    Attribute.PRIVATE: False,
                    Attribute.LABEL: label,
                    Attribute.ID: key_id,
                    Attribute.SUBJECT: cert.subject.public_bytes(),
                    Attribute.ISSUER: cert.issuer.public_bytes(),
                    Attribute.SERIAL_NUMBER: cert.serial_number.to_bytes(20, "big").lstrip(b"\0") or b"\0",
                    Attribute.VALUE: der,
                }
            )
        finally:
            s.close()
    (settings.paths.pki / "org.pem").write_bytes(_pem(cert))


def _ensure_org_cert(settings, pki: Pki, pub, ca_changed: bool, log: _Log) -> Path:
    org_pem = settings.paths.pki / "org.pem"
    if org_pem.exists() and not ca_changed:
        cert = _load_cert(org_pem)
        same_key = cert.public_key().public_numbers() == pub.public_numbers()
        if same_key and cert.issuer == pki.ca.subject and cert.not_valid_after_utc > _now():
            log.kept(f"org certificate {org_pem}")
            return org_pem
    cert = pki.issue(org_subject(settings.organisation), pub)
    install_org_certificate(settings, cert)
    log.made(f"org certificate «{settings.organisation}» (on the token and in {org_pem})")
    return org_pem


def issue_org_certificate(
    settings,
    *,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    key_usage: x509.KeyUsage | None = None,
    revoked: bool = False,
    install: bool = True,
) -> x509.Certificate:
    """Tests: a new organisation certificate for the token key with any validity / usage / revocation.

    Installed on the token (and org.pem) unless install=False; `revoked` puts it on the dev CRL.
    """
    pki = Pki(settings.paths.pki)
    pub = _load_cert(settings.paths.pki / "org.pem").public_key()
    cert = pki.issue(
        org_subject(settings.organisation), pub, not_before=not_before, not_after=not_after, key_usage=key_usage
    )
    if revoked:
        pki.write_crl(revoke=cert.serial_number)
    if install:
        install_org_certificate(settings, cert)
    return cert


# --- persons, seal, NSS, HTTP secrets ----------------------------------------------------------------


def _ensure_persons(settings, pki: Pki, ca_changed: bool, log: _Log) -> tuple[PersonMaterial, ...]:
    out = []
    for i, (name, title) in enumerate(PERSONS, start=1):
        p12 = settings.paths.pki / f"person{i}.p12"
        pw = settings.paths.pki / f"person{i}.pass"
        pem = settings.paths.pki / f"person{i}.pem"
        pm = PersonMaterial(name, title, p12, pw, pem)
        if p12.exists() and pw.exists() and pem.exists() and not ca_changed:
            log.kept(f"person certificate {name}")
            out.append(pm)
            continue
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cert = pki.issue(person_subject(name, title, settings.organisation), key.public_key())
        password = secrets.token_hex(8)
        data = pkcs12.serialize_key_and_certificates(
            f"person{i}".encode(),
            key,
            cert,
            [pki.ca, pki.root],
            serialization.BestAvailableEncryption(password.encode()),
        )
        _write_secret(pw, password + "\n")
        _write_secret(p12, data)
        pem.write_bytes(_pem(cert))
        log.made(f"person certificate {name}, {title} ({p12})")
        out.append(pm)
    return tuple(out)


def make_seal_png(path: Path, px: int = 600) -> None:
    """A round red seal on a transparent background, clearly marked DEV."""
    from PIL import Image, ImageDraw, ImageFont

    red = (204, 0, 0, 255)
    img = Image.new("RGBA", (px, px), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    m = px // 40
    d.ellipse((m, m, px - m, px - m), outline=red, width=px // 30)
    inner = px // 8
    d.ellipse((inner, inner, px - inner, px - inner), outline=red, width=px // 80)
    def font(size: int):
        for d in ("liberation2", "liberation", "dejavu"):  # liberation2 has the Vietnamese letters
            for name in ("LiberationSans-Bold.ttf", "DejaVuSans-Bold.ttf"):
                try:
                    return ImageFont.truetype(f"/usr/share/fonts/truetype/{d}/{name}", size)
                except OSError:
                    continue
        return ImageFont.load_default()

    d.text((px / 2, px / 2), "DEV", fill=red, font=font(px // 4), anchor="mm")
    d.text((px / 2, px * 0.30), "KYSO", fill=red, font=font(px // 12), anchor="mm")
    d.text((px / 2, px * 0.70), "PHÁT TRIỂN", fill=red, font=font(px // 14), anchor="mm")
    # a star on top, as real seals have
    cx, cy, r = px / 2, px * 0.19, px / 30
    import math

    pts = []
    for k in range(10):
        rr = r if k % 2 == 0 else r * 0.45
        a = -math.pi / 2 + k * math.pi / 5
        pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
    d.polygon(pts, fill=red)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, "PNG")


def _ensure_seal(settings, log: _Log) -> Path:
    seal = Path(settings.appearance.seal_image)
    if seal.exists():
        log.kept(f"seal image {seal}")
    else:
        make_seal_png(seal)
        log.made(f"seal image {seal} (red, transparent, marked DEV)")
    return seal


def _ensure_nssdb(settings, pki: Pki, log: _Log) -> Path:
    nssdb = settings.paths.nssdb
    stamp = nssdb / "kyso-root.sha256"
    want = hashlib.sha256(pki.root_pem.read_bytes() + pki.ca_pem.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text().strip() == want and (nssdb / "cert9.db").exists():
        log.kept(f"NSS database {nssdb}")
        return nssdb
    if not shutil.which("certutil"):
        raise ConfigError("certutil not found: install libnss3-tools", detail="certutil missing")
    shutil.rmtree(nssdb, ignore_errors=True)
    nssdb.mkdir(parents=True)
    db = f"sql:{nssdb}"
    for cmd in (
        ["certutil", "-N", "-d", db, "--empty-password"],
        ["certutil", "-A", "-d", db, "-n", NSS_ROOT_NICK, "-t", "CT,C,C", "-i", str(pki.root_pem)],
        ["certutil", "-A", "-d", db, "-n", NSS_CA_NICK, "-t", ",,", "-i", str(pki.ca_pem)],
    ):
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise ConfigError(f"{' '.join(cmd[:2])} failed: {res.stderr.strip()[:200]}", detail="nssdb")
    stamp.write_text(want + "\n")
    log.made(f"NSS database {nssdb} (trusts the dev root, for pdfsig)")
    return nssdb


def _ensure_http_secrets(settings, log: _Log) -> tuple[Path, Path]:
    token_file = settings.paths.http_dev_token
    clients = Path(settings.http.clients_file or settings.paths.secrets / "http-clients.toml")
    if token_file.exists():
        token = token_file.read_text().strip()
        log.kept(f"HTTP dev token {token_file}")
    else:
        token = secrets.token_urlsafe(32)
        _write_secret(token_file, token + "\n")
        log.made(f"HTTP dev token {token_file} (0600)")
    digest = hashlib.sha256(token.encode()).hexdigest()
    text = (
        "# HTTP clients allowed to publish (DEV). token_sha256 = SHA-256 of the bearer token.\n"
        "[[clients]]\n"
        'name = "dev-portal"\n'
        f'token_sha256 = "{digest}"\n'
    )
    if clients.exists() and clients.read_text() == text:
        log.kept(f"HTTP clients {clients}")
    else:
        _write_secret(clients, text)
        log.made(f"HTTP clients {clients}")
    return token_file, clients


# --- entry point ---------------------------------------------------------------------------------


def dev_init(settings) -> DevMaterial:
    """Make (or reuse) all development material under settings.var_dir. Idempotent."""
    log = _Log()
    paths = settings.paths
    paths.var.mkdir(parents=True, exist_ok=True)
    _private_dir(paths.secrets)
    _private_dir(paths.softhsm)
    paths.pki.mkdir(parents=True, exist_ok=True)
    if settings.token.softhsm2_conf is None:
        raise ConfigError("dev-init needs SoftHSM2 (token.softhsm2_conf)", detail="token.softhsm2_conf")
    conf = _softhsm_conf(paths, log)
    if Path(settings.token.softhsm2_conf).resolve() != conf.resolve():
        raise ConfigError(
            f"dev-init manages only the development token ({conf})", detail="token.softhsm2_conf"
        )
    _ensure_token(settings, conf, log)
    pki = Pki(paths.pki)
    ca_changed = pki.ensure(log)
    if ca_changed or not pki.crl.exists() or not pki.crl_pem.exists():
        pki.write_crl()
        log.made(f"CRL {pki.crl}")
    else:
        log.kept(f"CRL {pki.crl}")
    pub = _ensure_org_key(settings, log)
    org_pem = _ensure_org_cert(settings, pki, pub, ca_changed, log)
    persons = _ensure_persons(settings, pki, ca_changed, log)
    seal = _ensure_seal(settings, log)
    nssdb = _ensure_nssdb(settings, pki, log)
    token_file, clients = _ensure_http_secrets(settings, log)
    for d in (paths.var / "work",):
        _private_dir(d)  # temporary signed outputs and document copies live under it
    return DevMaterial(
        var_dir=paths.var,
        softhsm_conf=conf,
        token_label=settings.token.token_label,
        key_label=settings.token.key_label,
        root=pki.root_pem,
        ca=pki.ca_pem,
        crl=pki.crl,
        crl_pem=pki.crl_pem,
        org_cert=org_pem,
        persons=persons,
        seal=seal,
        nssdb=nssdb,
        http_dev_token=token_file,
        http_clients=clients,
        created=tuple(log.created),
        reused=tuple(log.reused),
    )
