# Stand-in for the packages feed's lang/rust/rust-package.mk and
# rust-values.mk (tests/openwrt/check.sh): the same interface, with the
# feed's profile overrides; `cargo` is the test's recorder.
CARGO_HOME := $(DL_DIR)/cargo
RUST_ARCH_DEPENDS := @(aarch64||arm||i386||i686||mips||mipsel||mips64||mips64el||powerpc64||riscv64||x86_64)
RUST_PKG_LOCKED ?= 1
CARGO_PKG_PROFILE := release

CARGO_PKG_CONFIG_VARS = \
	CARGO_HOME=$(CARGO_HOME) \
	CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
	CARGO_PROFILE_RELEASE_LTO=true \
	CARGO_PROFILE_RELEASE_OPT_LEVEL=z \
	CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true \
	CARGO_PROFILE_RELEASE_PANIC=unwind

CARGO_PKG_VARS = $(CARGO_PKG_CONFIG_VARS)

CARGO_PKG_ARGS =
ifeq ($(strip $(RUST_PKG_LOCKED)),1)
  CARGO_PKG_ARGS += --locked
endif

define Build/Compile/Cargo
	+$(CARGO_PKG_VARS) \
	cargo install -v \
		--profile $(CARGO_PKG_PROFILE) \
		--root $(PKG_INSTALL_DIR) \
		--path "$(PKG_BUILD_DIR)/$(if $(strip $(1)),$(strip $(1)),.)" \
		$(CARGO_PKG_ARGS) \
		$(2)
endef

define RustBinPackage
  ifndef Package/$(1)/install
    define Package/$(1)/install
	$$(INSTALL_DIR) $$(1)/usr/bin/
	$$(INSTALL_BIN) $$(PKG_INSTALL_DIR)/bin/* $$(1)/usr/bin/
    endef
  endif
endef

Build/Compile=$(call Build/Compile/Cargo)
