"""Configuration: one TOML file (optional), overridden by GATEWAY_* environment variables.

With no file at all the gateway runs on the embedded development default: everything under `var_dir`
(SoftHSM token, development PKI, SQLite log, local folders, SMTP on loopback with a local mail sink).
Nested keys take `__` in environment variables: GATEWAY_SMTP__PORT=2525, GATEWAY_TOKEN__PIN=...
Unknown keys and bad values fail at start with a message naming the key. Secrets are SecretStr and never
printed. Nothing here is read at import time: call `load_settings()`.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from gateway.errors import ConfigError
from gateway.model import DocKind, Reason

CONFIG_ENV = "KYSO_CONFIG"  # path of the TOML file; kept out of the GATEWAY_ prefix on purpose
VAR_ENV = "GATEWAY_VAR_DIR"  # where the runtime data lives; documented in README and config/gateway.toml
MiB = 1024 * 1024
DEVELOPMENT_DEFAULT = "mặc định phát triển / development default"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _read_secret(value: SecretStr | None, file: Path | None, what: str) -> str:
    if value is not None and value.get_secret_value():
        return value.get_secret_value()
    if file is not None:
        try:
            return file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read {what} file {file}: {exc.strerror}", detail=f"{what} file") from None
    raise ConfigError(f"no {what} configured", detail=f"{what} missing")


class TokenSettings(Section):
    """The organisation's key: a PKCS#11 module, a token chosen by label, a key by label."""

    module: Path = Path("/usr/lib/softhsm/libsofthsm2.so")
    token_label: str = "KYSO-DEV"
    key_label: str = "kyso-org"
    cert_label: str | None = None  # defaults to key_label
    pin: SecretStr | None = None
    pin_file: Path | None = None  # default: <var>/secrets/token-pin (dev)
    softhsm2_conf: Path | None = None  # exported as SOFTHSM2_CONF when set; dev: <var>/softhsm/softhsm2.conf
    discovery_attempts: int = Field(default=5, ge=1, le=50)
    # Shared by every process: a PIN the token rejected is not tried again by any worker or after a restart
    # (tokens lock after 3 wrong PINs, Điều 7.2). Configure a new PIN, or delete this file, to try again.
    pin_latch_file: Path | None = None  # default: <var>/secrets/pin-rejected.json

    def read_pin(self) -> str:
        return _read_secret(self.pin, self.pin_file, "token PIN")


class TrustSettings(Section):
    """Trust roots and revocation sources (Decree 68 Điều 29, 31)."""

    roots: list[Path] = []  # default: <var>/pki/root.pem
    intermediates: list[Path] = []  # default: <var>/pki/ca.pem
    crls: list[str] = []  # files or http(s) URLs; default: <var>/pki/ca.crl
    ocsp: bool = False  # ask OCSP responders named in certificates
    revocation: Literal["offline", "soft-fail", "hard-fail"] = "soft-fail"
    sign_without_revocation: bool = True  # sign with a warning when revocation cannot be checked
    fetch_timeout_seconds: float = Field(default=5.0, gt=0)
    organisation_certs: list[Path] = []  # our own certificates (fingerprint match); default: <var>/pki/org.pem


class SigningSettings(Section):
    level: Literal["B-B", "B-T", "B-LT"] = "B-B"
    tsa_url: str | None = None
    digest: Literal["sha256", "sha384", "sha512"] = "sha256"
    rsa_pss: bool = False
    workers: int = Field(default=2, ge=1, le=64)  # signing worker processes, one HSM session each
    chunk_size: int = Field(default=MiB, ge=4096)

    @model_validator(mode="after")
    def _timestamp_levels_need_a_tsa(self) -> "SigningSettings":
        # PAdES B-LT builds on B-T: both carry a timestamp, so both need the timestamp service.
        if self.level in ("B-T", "B-LT") and not self.tsa_url:
            raise ValueError(f"level {self.level} needs tsa_url (the timestamp service)")
        return self


class AppearanceSettings(Section):
    """Signature appearance per Decree 30/2020 Phụ lục I."""

    seal_image: Path | None = None  # default: <var>/seal.png
    seal_width_mm: float = Field(default=36.0, gt=5, lt=120)
    font: Path | None = None  # default: Liberation Serif (metric-compatible with Times New Roman)
    font_size: float = Field(default=10.0, gt=4, lt=30)
    invisible: bool = False  # when true, every organisation signature is invisible


class AuditSettings(Section):
    backend: Literal["sqlite", "postgresql"] = "sqlite"
    path: Path | None = None  # default: <var>/audit.sqlite3
    dsn: SecretStr | None = None  # postgresql://...
    busy_timeout_seconds: float = Field(default=30.0, gt=0, le=600)  # wait for another writer, then 503/451
    # Anchored log (issue 15): the chain head signed with the organisation key every N records or T seconds
    # (and at shutdown), kept in the log and exported to anchor_dir, a place an insider cannot silently rewrite.
    checkpoint_records: int = Field(default=1000, ge=1)
    checkpoint_seconds: float = Field(default=3600.0, gt=0)
    anchor_dir: Path | None = None  # default: <audit.path>.anchor (same disk: set it to another host's share)


class PolicySettings(Section):
    dir: Path | None = None  # default: the shipped policies/ folder
    offline: bool = False  # validation of existing signatures without network (warns)


class LimitSettings(Section):
    max_document_bytes: int = Field(default=512 * MiB, ge=1)
    document_seconds: float = Field(default=120.0, gt=0)
    max_pages: int = Field(default=20000, ge=1)
    max_pdf_objects: int = Field(default=2_000_000, ge=1)
    max_mime_parts: int = Field(default=500, ge=1)
    max_mime_depth: int = Field(default=10, ge=1)
    max_header_bytes: int = Field(default=256 * 1024, ge=1024)
    # Containers (zip, 7z, tar, gzip, TNEF, mail, a PDF's embedded files): one budget for a document's whole
    # recursion. A breach refuses the document with its own reason (gateway.inspect.members).
    max_container_depth: int = Field(default=5, ge=1, le=50)  # containers inside containers
    max_container_entries: int = Field(default=10_000, ge=1)  # entries of every container, all levels
    max_expanded_bytes: int = Field(default=1024 * MiB, ge=1)  # bytes extracted, all levels together
    max_compression_ratio: float = Field(default=100.0, ge=2)  # of a member above 1 MiB: a bomb beyond


class OfficeSettings(Section):
    """Office documents (gateway/inspect/office.py, office_legacy.py)."""

    # LibreOffice reads legacy .doc/.xls/.ppt and .xlsb (converted to OOXML, then read); "" = refuse them.
    soffice: str = "soffice"
    convert_seconds: float = Field(default=60.0, gt=0, le=3600)


class SmtpUser(Section):
    """One SMTP AUTH login; password_hash from gateway.smtp.server.hash_password ('scrypt$salt$hash')."""

    name: str
    password_hash: str


class SmtpSettings(Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=10025, ge=0, le=65535)
    hostname: str = "kyso-gateway.local"
    allowed_networks: list[str] = ["127.0.0.0/8", "::1/128"]
    upstream_host: str = "127.0.0.1"
    upstream_port: int = Field(default=10026, ge=1, le=65535)
    upstream_starttls: bool = False
    upstream_timeout_seconds: float = Field(default=60.0, gt=0)
    max_message_bytes: int = Field(default=50 * MiB, ge=1024)
    require_auth: bool = False
    tls_cert: Path | None = None
    tls_key: Path | None = None
    smime_sign: bool = False  # S/MIME-sign whole messages with the organisation key
    spool_dir: Path | None = None  # default: <var>/spool
    sink_enabled: bool = True  # dev: a local sink on upstream_host:upstream_port
    sink_dir: Path | None = None  # default: <var>/mail-sink
    auth_users: list[SmtpUser] = []  # SMTP AUTH (PLAIN/LOGIN after STARTTLS) credentials, hashed
    # Bounded resources (issue 15): connections per door and per client address; a command must come within
    # idle_seconds, the whole DATA within data_seconds; message bytes held in memory at once (received or being
    # processed) — beyond that a body is spooled to spool_dir and waits for room, up to inflight_wait_seconds,
    # then 451 (the sender's queue tries again).
    max_connections: int = Field(default=100, ge=1)
    max_connections_per_address: int = Field(default=20, ge=1)
    idle_seconds: float = Field(default=300.0, gt=0)
    data_seconds: float = Field(default=600.0, gt=0)
    max_inflight_bytes: int = Field(default=64 * MiB, ge=1024)
    inflight_wait_seconds: float = Field(default=300.0, gt=0)  # < the 10 min a client waits after DATA (RFC 5321 4.5.3.2.6)


class FolderWatch(Section):
    name: str = "default"
    inbox: Path
    signed: Path
    rejected: Path
    archive: Path | None = None  # originals kept here; None: removed after the output is safe
    quarantine: Path | None = None  # where blocked (secret-marked) files go; None: left in place
    kind: DocKind | Literal["sidecar"] = "sidecar"
    recursive: bool = False
    patterns: list[str] = ["*"]


class FolderSettings(Section):
    enabled: bool = True
    watches: list[FolderWatch] = []  # default: one watch under <var>/folders
    polling: bool = False  # PollingObserver, for network shares
    quiet_seconds: float = Field(default=2.0, ge=0)
    rescan_seconds: float = Field(default=30.0, gt=0)
    archive_retention_days: int = Field(default=90, ge=0)
    work_dir: Path | None = None  # default: <var>/folders/.work
    retry_initial_seconds: float = Field(default=2.0, gt=0)  # temporary failures: backoff doubles from here
    retry_max_seconds: float = Field(default=300.0, gt=0)
    poll_seconds: float = Field(default=1.0, gt=0)  # PollingObserver interval


class HttpClient(Section):
    name: str
    token_sha256: str  # hex SHA-256 of the bearer token
    # Least privilege (issue 15): a "client" sees only the decisions it caused and /healthz up/down; an
    # "operator" (monitoring, the security officer's tools) sees every decision and /healthz in detail.
    role: Literal["client", "operator"] = "client"

    @field_validator("token_sha256")
    @classmethod
    def _hex(cls, v: str) -> str:
        v = v.lower()
        if len(v) != 64 or any(c not in "0123456789abcdef" for c in v):
            raise ValueError("must be the 64-hex-digit SHA-256 of the token")
        return v


class HttpSettings(Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    clients: list[HttpClient] = []  # dev: also <var>/secrets/http-clients.toml written by dev-init
    clients_file: Path | None = None
    max_upload_bytes: int = Field(default=512 * MiB, ge=1)
    request_seconds: float = Field(default=300.0, gt=0)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    client_ca: Path | None = None  # mTLS: require client certificates issued by this CA
    spool_dir: Path | None = None  # default: <var>/uploads
    # Bounded resources (issue 15): connections per door and per client address, the time a request's headers
    # may take (slowloris), keep-alive idle time, and the longest pause between two chunks of a body.
    max_connections: int = Field(default=256, ge=1)
    max_connections_per_address: int = Field(default=32, ge=1)
    header_seconds: float = Field(default=10.0, gt=0)
    idle_seconds: float = Field(default=5.0, gt=0)
    body_idle_seconds: float = Field(default=30.0, gt=0)


class CertSettings(Section):
    expiry_warning_days: int = Field(default=60, ge=0)


class ReportSettings(Section):
    unit: str = "ĐƠN VỊ PHÁT TRIỂN (DEV)"
    parent: str = ""
    place: str = "Hà Nội"
    head_title: str = "THỦ TRƯỞNG ĐƠN VỊ"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GATEWAY_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_assignment=True,
    )

    var_dir: Path = Field(default_factory=lambda: default_var_dir())
    log_format: Literal["human", "json"] = "human"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    organisation: str = "Cơ quan thử nghiệm Kyso (DEV)"
    token: TokenSettings = TokenSettings()
    trust: TrustSettings = TrustSettings()
    signing: SigningSettings = SigningSettings()
    appearance: AppearanceSettings = AppearanceSettings()
    audit: AuditSettings = AuditSettings()
    policy: PolicySettings = PolicySettings()
    limits: LimitSettings = LimitSettings()
    office: OfficeSettings = OfficeSettings()
    smtp: SmtpSettings = SmtpSettings()
    folders: FolderSettings = FolderSettings()
    http: HttpSettings = HttpSettings()
    certs: CertSettings = CertSettings()
    report: ReportSettings = ReportSettings()
    _source: str = PrivateAttr(default=DEVELOPMENT_DEFAULT)  # the config file, or the development default

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment beats the file (passed as init kwargs) beats defaults.
        return (env_settings, init_settings)

    @model_validator(mode="after")
    def _fill_defaults(self) -> "Settings":
        """Paths left empty default to the development layout under var_dir."""
        if not self.var_dir.is_absolute():
            # Never relative to whatever directory a command happens to run in (a stray log there).
            self.var_dir = self.var_dir.absolute()
        v = self.var_dir
        p = self.paths
        if self.token.pin is None and self.token.pin_file is None:
            self.token.pin_file = p.token_pin
        if self.token.pin_latch_file is None:
            self.token.pin_latch_file = p.secrets / "pin-rejected.json"
        if self.token.softhsm2_conf is None and "softhsm" in str(self.token.module):
            self.token.softhsm2_conf = p.softhsm_conf
        if not self.trust.roots:
            self.trust.roots = [p.pki / "root.pem"]
        if not self.trust.intermediates:
            self.trust.intermediates = [p.pki / "ca.pem"]
        if not self.trust.crls:
            self.trust.crls = [str(p.pki / "ca.crl")]
        if self.appearance.seal_image is None:
            self.appearance.seal_image = v / "seal.png"
        if self.appearance.font is None:
            self.appearance.font = Path("/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf")
        if self.audit.path is None:
            self.audit.path = v / "audit.sqlite3"
        if self.policy.dir is None:
            self.policy.dir = shipped_policies_dir()
        if self.smtp.spool_dir is None:
            self.smtp.spool_dir = v / "spool"
        if self.smtp.sink_dir is None:
            self.smtp.sink_dir = v / "mail-sink"
        if not self.folders.watches:
            f = v / "folders"
            self.folders.watches = [
                FolderWatch(
                    name="default",
                    inbox=f / "inbox",
                    signed=f / "signed",
                    rejected=f / "rejected",
                    archive=f / "archive",
                    quarantine=f / "quarantine",
                )
            ]
        if self.folders.work_dir is None:
            self.folders.work_dir = v / "folders" / ".work"
        if self.http.clients_file is None:
            self.http.clients_file = p.secrets / "http-clients.toml"
        if self.http.spool_dir is None:
            self.http.spool_dir = v / "uploads"
        return self

    @property
    def paths(self) -> "DevPaths":
        return DevPaths(self.var_dir)

    @property
    def source(self) -> str:
        """The config file these settings came from, or the development default."""
        return self._source

    @property
    def is_development_default(self) -> bool:
        return self._source == DEVELOPMENT_DEFAULT

    def redacted(self) -> dict:
        """The settings as a dict, secrets shown as **********."""
        return self.model_dump(mode="json")


class DevPaths:
    """Where dev-init puts development material under var_dir."""

    def __init__(self, var_dir: Path) -> None:
        self.var = var_dir
        self.softhsm = var_dir / "softhsm"
        self.softhsm_conf = self.softhsm / "softhsm2.conf"
        self.pki = var_dir / "pki"
        self.nssdb = var_dir / "pki" / "nssdb"
        self.secrets = var_dir / "secrets"
        self.token_pin = self.secrets / "token-pin"
        self.http_dev_token = self.secrets / "http-dev-token"


def project_root() -> Path | None:
    """The source checkout this package runs from (pyproject.toml of kyso-gateway beside it), else None."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = (root / "pyproject.toml").read_text(encoding="utf-8")[:2000]
    except OSError:
        return None
    return root if 'name = "kyso-gateway"' in head else None


def default_var_dir() -> Path:
    """Where the development environment lives, whatever the current directory.

    A source checkout keeps it in its own `var/` (found from the package's location); an installed package
    uses $XDG_DATA_HOME/kyso-gateway (~/.local/share/kyso-gateway). $GATEWAY_VAR_DIR or `var_dir` in the
    config file choose another place.
    """
    root = project_root()
    if root is not None:
        return root / "var"
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "kyso-gateway"


def environment_problem(settings: "Settings", *, signing: bool = True) -> Reason | None:
    """Why commands cannot work on these settings' var_dir (ENVIRONMENT_MISSING, VAR_DIR_MISSING), or None.

    `signing`: the command signs or verifies, so on the development default it needs what dev-init makes
    (the dev PKI), not only the folder (the decision log and inventory live there).
    """
    var = Path(settings.var_dir)
    if settings.is_development_default:
        if not var.is_dir() or (signing and not (var / "pki" / "root.pem").is_file()):
            return Reason.of("ENVIRONMENT_MISSING", path=str(var))
        return None
    if not var.is_dir():
        return Reason.of("VAR_DIR_MISSING", path=str(var), config=settings.source)
    return None


def shipped_policies_dir() -> Path:
    """policies/ beside the package (source checkout), or GATEWAY data installed with it."""
    here = Path(__file__).resolve().parent
    for cand in (here.parent / "policies", here / "data" / "policies"):
        if cand.is_dir():
            return cand
    return here.parent / "policies"


def _format_errors(exc: ValidationError, source: str) -> str:
    lines = [f"cấu hình không hợp lệ / invalid configuration ({source}):"]
    for err in exc.errors():
        key = ".".join(str(x) for x in err["loc"]) or "(root)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "khóa không được hỗ trợ / unknown key"
        lines.append(f"  - {key}: {msg}")
    return "\n".join(lines)


def load_settings(config: Path | str | None = None, **overrides: object) -> Settings:
    """Read the TOML file (argument, or $KYSO_CONFIG, or none) and the environment.

    `overrides` (for tests) replace the file's top-level keys; GATEWAY_* environment variables still beat
    both, also for keys the overrides set. Raises ConfigError naming every bad key.
    """
    path = Path(config) if config else (Path(os.environ[CONFIG_ENV]) if os.environ.get(CONFIG_ENV) else None)
    data: dict = {}
    source = DEVELOPMENT_DEFAULT
    if path is not None:
        source = str(path)
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"không tìm thấy tệp cấu hình / config file not found: {path}", detail=str(path)) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"tệp cấu hình sai cú pháp / config file syntax error: {path}: {exc}", detail=str(exc)) from None
        if isinstance(data.get("var_dir"), str) and not Path(data["var_dir"]).is_absolute():
            # A relative var_dir in a file means: beside the file, not wherever the command runs.
            data["var_dir"] = str(path.absolute().parent / data["var_dir"])
    data.update(overrides)
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, source), detail="validation") from None
    settings._source = source
    return settings
