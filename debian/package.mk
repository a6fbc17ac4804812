# Installing and packaging, included by the Makefile (README.md,
# "Installing"):
#
#   make install [PREFIX=/usr/local] [DESTDIR=] [SYSCONFDIR=/etc]
#                the release binary, edgemq(1), the systemd unit, the
#                gateway config (never over an existing one), the docs
#   make install-check   `make install` into a staging directory, checked
#   make deb             a Debian package (debian/build-deb.sh, dpkg-deb)
#   make deb-check       dpkg -i, check-config on the installed config,
#                        dpkg -P leaves nothing; lintian (installed if missing)

PREFIX     ?= /usr/local
DESTDIR    ?=
SYSCONFDIR ?= /etc
BINDIR     ?= $(PREFIX)/bin
UNITDIR    ?= $(PREFIX)/lib/systemd/system
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/edgemq
INSTALL_BIN ?= $(TARGET_DIR)/release/$(BIN)
PKG_VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
DOCS := README.md docs/design.md docs/logging.md docs/security.md docs/transports.md

.PHONY: install install-files install-check deb deb-check

install: release install-files

# Without building: what `make deb` and the checks reuse.
install-files:
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(MANDIR)/man1 \
	  $(DESTDIR)$(DOCDIR) $(DESTDIR)$(SYSCONFDIR)/edgemq
	install -m 0755 $(INSTALL_BIN) $(DESTDIR)$(BINDIR)/$(BIN)
	sed -e 's|/usr/bin/edgemq|$(BINDIR)/edgemq|g' -e 's|/etc/edgemq/|$(SYSCONFDIR)/edgemq/|g' \
	  -e 's|file:///usr/share/doc/edgemq/|file://$(DOCDIR)/|' \
	  systemd/edgemq.service > $(DESTDIR)$(UNITDIR)/edgemq.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/edgemq.service
	debian/man-page.sh $(INSTALL_BIN) $(PKG_VERSION) > $(DESTDIR)$(MANDIR)/man1/edgemq.1
	chmod 0644 $(DESTDIR)$(MANDIR)/man1/edgemq.1
	install -m 0644 $(DOCS) $(DESTDIR)$(DOCDIR)/
	@conf=$(DESTDIR)$(SYSCONFDIR)/edgemq/edgemq.conf; \
	if [ -e $$conf ]; then \
	  echo "install: kept the existing $$conf (the new one is systemd/edgemq.conf)"; \
	else \
	  install -m 0644 systemd/edgemq.conf $$conf; \
	fi

# The tree `make install` makes, file by file, and its config checked by the
# installed binary; a second install keeps a changed config.
STAGING := $(abspath $(TARGET_DIR))/install-staging
INSTALL_EXPECTED := /etc/edgemq/edgemq.conf /usr/bin/edgemq /usr/lib/systemd/system/edgemq.service \
  /usr/share/doc/edgemq/README.md /usr/share/doc/edgemq/design.md /usr/share/doc/edgemq/logging.md \
  /usr/share/doc/edgemq/security.md /usr/share/doc/edgemq/transports.md /usr/share/man/man1/edgemq.1
install-check: release
	@rm -rf $(STAGING)
	@$(MAKE) --no-print-directory -s install-files DESTDIR=$(STAGING) PREFIX=/usr >/dev/null
	@got=$$(cd $(STAGING) && find . -type f | sed 's|^\.||' | LC_ALL=C sort | tr '\n' ' '); \
	want=$$(printf '%s\n' $(INSTALL_EXPECTED) | LC_ALL=C sort | tr '\n' ' '); \
	[ "$$got" = "$$want" ] || { echo "install-check: the tree differs:" >&2; \
	  echo "  got:  $$got" >&2; echo "  want: $$want" >&2; exit 1; }
	@grep -qx 'ExecStart=/usr/bin/edgemq -c /etc/edgemq/edgemq.conf' $(STAGING)/usr/lib/systemd/system/edgemq.service
	@$(STAGING)/usr/bin/edgemq check-config $(STAGING)/etc/edgemq/edgemq.conf
	@echo '# changed by the operator' >> $(STAGING)/etc/edgemq/edgemq.conf
	@$(MAKE) --no-print-directory -s install-files DESTDIR=$(STAGING) PREFIX=/usr | grep -q 'kept the existing'
	@grep -q '^# changed by the operator' $(STAGING)/etc/edgemq/edgemq.conf
	@echo "install-check: OK ($(words $(INSTALL_EXPECTED)) files; an existing config is kept)"

DEB_STAGE := $(abspath $(TARGET_DIR))/deb/stage
DEB_OUT   := $(abspath $(TARGET_DIR))/deb
deb: release
	@rm -rf $(DEB_STAGE)
	@$(MAKE) --no-print-directory -s install-files DESTDIR=$(DEB_STAGE) PREFIX=/usr \
	  UNITDIR=/lib/systemd/system >/dev/null
	@debian/build-deb.sh $(DEB_STAGE) $(PKG_VERSION) $(DEB_OUT)

# Installs the package on this machine (root or sudo), then purges it: run
# it where that is fine (CI). lintian is installed when missing.
deb-check: deb
	@command -v lintian >/dev/null 2>&1 || { \
	  if ! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1; then $(SUDO) apt-get update; fi; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends lintian; }
	@debian/check-deb.sh $$(ls -t $(DEB_OUT)/edgemq_*.deb | head -n 1)
