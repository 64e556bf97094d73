"""`gateway dev-init`: make (or reuse) the development token, PKI, seal and secrets under var/. Idempotent."""

from __future__ import annotations

from gateway.cli.common import EXIT_OK, say, settings_from


def register(sub) -> None:
    p = sub.add_parser(
        "dev-init",
        help="tạo môi trường phát triển (token SoftHSM, PKI thử nghiệm) / create the development environment",
        description=(
            "Tạo (hoặc dùng lại) token SoftHSM2, PKI thử nghiệm (DEV), dấu đỏ, cơ sở dữ liệu NSS và bí mật HTTP "
            "trong var/. Chạy lại an toàn.\n"
            "Creates (or reuses) the SoftHSM2 token, the DEV PKI, the seal image, the NSS database and the HTTP "
            "secrets under var/. Safe to run again. DEVELOPMENT MATERIAL ONLY."
        ),
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from gateway.devinit import dev_init

    settings = settings_from(args, need_environment=False)
    m = dev_init(settings)
    say(f"Môi trường phát triển / development environment: {m.var_dir.resolve()}")
    for line in m.created:
        say(f"  + đã tạo / created: {line}")
    for line in m.reused:
        say(f"  = dùng lại / reused: {line}")
    say(
        "CHỈ DÙNG ĐỂ PHÁT TRIỂN, THỬ NGHIỆM (DEV) / FOR DEVELOPMENT AND TESTS ONLY",
        f"  token: {m.token_label} (SOFTHSM2_CONF={m.softhsm_conf}), khóa / key: {m.key_label}",
        f"  pdfsig -nssdir sql:{m.nssdb} <tệp / file.pdf>",
    )
    return EXIT_OK
