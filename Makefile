# Kyso Gateway — two commands on a fresh Debian/Ubuntu machine with Python 3.11+:
#   make run    install what is missing, initialise the development environment, start the gateway
#   make test   install what is missing, run the whole test suite
# As root it installs Debian packages directly; otherwise through sudo, saying what it installs.

PYTHON      ?= python3
VENV        ?= .venv
VPY         := $(VENV)/bin/python
GATEWAY     := $(VENV)/bin/gateway
# Debian packages the gateway needs to run (SoftHSM is the embedded HSM; poppler/NSS for pdfsig checks;
# Tesseract with its Vietnamese and orientation data reads scanned pages and images for secrecy marks;
# librsvg draws SVG drawings so that what they show is read, not only their text).
APT_RUN     := softhsm2 poppler-utils libnss3-tools fonts-liberation2 openssl sqlite3 python3-venv qpdf tesseract-ocr \
            tesseract-ocr-vie tesseract-ocr-osd librsvg2-bin
# ... and what the tests add: a real Postfix, swaks, the independent MIME decoders (ripmime, munpack); the real
# archivers and extractors the container tests make and take apart archives with (zip/unzip, 7z, tar's
# bzip2/xz, Debian's tnef decoder); DejaVu fonts for the labelled secrecy set; LibreOffice (legacy .doc/.xls/.ppt,
# EMF/WMF pictures, office files with embedded fonts or freeform shapes are read through it: install it on a
# gateway that must accept them, else they are refused) and GnuPG.
APT_TEST    := postfix swaks ripmime mpack zip unzip p7zip-full bzip2 xz-utils tnef fonts-dejavu-core \
            libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui gpg
# Two test processes, a test file's tests in one of them (module fixtures: one token, one Postfix, one
# gateway per file), the files that take minutes first (tests/conftest.py): the whole suite in about 9 minutes
# on 2 cores.
PYTEST_ARGS ?= -n 2 --dist loadfile --no-loadscope-reorder

.PHONY: run test deps deps-test venv dev-init clean help
.DEFAULT_GOAL := help

help:
	@echo "make run   — cài đặt, khởi tạo môi trường phát triển, chạy cổng ký số / install, dev-init, run the gateway"
	@echo "make test  — cài đặt và chạy toàn bộ kiểm thử / install and run the whole test suite"

run: deps venv dev-init
	$(GATEWAY) run

test: deps deps-test venv
	$(VPY) -m pytest $(PYTEST_ARGS)

deps:
	@sh scripts/apt-install.sh $(APT_RUN)

deps-test:
	@sh scripts/apt-install.sh $(APT_TEST)

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -r requirements.lock
	$(VPY) -m pip install --quiet --no-deps -e .
	$(VPY) -m pip check   # the lock must hold everything pyproject.toml asks for
	@touch $@

dev-init: venv
	$(GATEWAY) dev-init

clean:
	rm -rf var $(VENV)
