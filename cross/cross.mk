# Cross builds for the devices edgemq runs on, included by the Makefile.
#
# Static musl binaries linked by zig (cargo-zigbuild): no Docker, no Debian
# cross linkers. Tier 2 targets with a prebuilt std (aarch64) use the stable
# toolchain; MIPS (tier 3) and armv7-musl (absent from some rustup mirrors)
# build std from source with nightly -Zbuild-std. MIPS also needs the static
# relocation model (static-pie MIPS binaries crash at start) and a patched
# sled (cross/patch-sled.sh). Everything a fresh machine lacks is installed by
# `cross-deps`, which every rule below runs first (each step skips itself
# when already done).

comma := ,
CROSS_TARGETS := aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf \
                 mips-unknown-linux-musl mipsel-unknown-linux-musl
# x86_64 gateways, and the build the benchmarks measure (tests/bench): the
# same static, size-tuned binary as the devices get. `make cross` only.
HOST_TARGETS  := x86_64-unknown-linux-musl
TARGET        ?= aarch64-unknown-linux-musl
# Short names: aarch64, armv7, mips, mipsel, x86_64.
ALL_TARGETS := $(CROSS_TARGETS) $(HOST_TARGETS)
TRIPLE := $(strip $(or $(filter $(TARGET),$(ALL_TARGETS)),$(filter $(TARGET)-unknown-linux-musl%,$(ALL_TARGETS)),$(TARGET)))

# Targets whose std is built from source, with this toolchain.
BUILD_STD_TARGETS := armv7-unknown-linux-musleabihf mips-unknown-linux-musl mipsel-unknown-linux-musl
MIPS_TARGETS      := mips-unknown-linux-musl mipsel-unknown-linux-musl

# The one nightly every shipped and cross-tested build uses: the only
# place it is recorded. `cross-deps-rust` fails, saying how to install it,
# when the toolchain it would use prints anything else. NIGHTLY (the
# rustup toolchain name) is `nightly` when that one is the pinned version,
# else the dated archive, which `cross-deps-rust` installs when missing
# (rustup names a nightly by its archive date, the day after the commit
# date that `rustc -V` prints).
NIGHTLY_VERSION := rustc 1.97.0-nightly (e50aa6fba 2026-05-19)
NIGHTLY_DIST    := nightly-2026-05-20
NIGHTLY ?= $(shell rustup run nightly rustc -V 2>/dev/null | grep -qxF '$(NIGHTLY_VERSION)' && echo nightly || echo $(NIGHTLY_DIST))

# zig and cargo-zigbuild live in a Python venv outside the repository, shared
# by every checkout of this user. Versions as measured (override to update).
CROSS_HOME     ?= $(HOME)/.cache/edgemq-cross
ZIG_VENV       := $(CROSS_HOME)/venv
PYTHON         ?= python3
ZIGLANG_PIP    ?= ziglang==0.17.1
ZIGBUILD_PIP   ?= cargo-zigbuild==0.24.0
CARGO_ZIGBUILD := $(ZIG_VENV)/bin/cargo-zigbuild

# qemu-user per target (static musl binaries: no -L sysroot needed).
QEMU_aarch64-unknown-linux-musl     := qemu-aarch64
QEMU_armv7-unknown-linux-musleabihf := qemu-arm
QEMU_mips-unknown-linux-musl        := qemu-mips
QEMU_mipsel-unknown-linux-musl      := qemu-mipsel
QEMU := $(QEMU_$(TRIPLE))

# Under qemu on two shared cores the end-to-end tests run ~10x slower: the
# harness scales its timeouts (EDGEMQ_TEST_TIME_SCALE, default 10 under a
# runner) and fewer tests run at once.
CROSS_TEST_THREADS ?= 2
CROSS_TEST_ARGS    ?=

# Tests to leave out under the emulator (`--skip NAME` each); none today.
# (The timers that once failed under qemu-mips are fixed by
# cross/patch-polling.sh, which real pre-5.1 kernels need as well.)
CROSS_TEST_SKIP ?=

# Per-target flags, computed from TRIPLE.
IS_STD_BUILD  := $(filter $(TRIPLE),$(BUILD_STD_TARGETS))
IS_MIPS       := $(filter $(TRIPLE),$(MIPS_TARGETS))
CROSS_CARGO_TC := $(if $(IS_STD_BUILD),$(NIGHTLY),stable)
CROSS_RUSTFLAGS := $(if $(IS_MIPS),-C relocation-model=static) \
                   $(if $(filter armv7-unknown-linux-musleabihf,$(TRIPLE)),-C link-self-contained=no)
# The shipped binary needs only panic_abort; test binaries unwind.
CROSS_BUILD_STD      := $(if $(IS_STD_BUILD),-Zbuild-std=std$(comma)panic_abort)
CROSS_TEST_BUILD_STD := $(if $(IS_STD_BUILD),-Zbuild-std)
SLED_PATCH_DIR := $(abspath $(TARGET_DIR))/cross-patches
SLED_PATCHED   := $(SLED_PATCH_DIR)/sled-0.34.7
POLLING_PATCHED := $(SLED_PATCH_DIR)/polling-3.11.0
# 32-bit targets (the build-std ones): polling without timerfd, see
# cross/patch-polling.sh.
IS_32BIT       := $(IS_STD_BUILD)
# aarch64: ring built small (OPENSSL_SMALL, as on every other target but
# x86_64), without its 148 KiB P-256 table; see cross/patch-ring.sh.
IS_SMALL_RING  := $(filter aarch64-unknown-linux-musl,$(TRIPLE))
RING_PATCHED   := $(SLED_PATCH_DIR)/ring-0.17.14
CROSS_PATCH    := $(ASYNC_IO_PATCH) \
                  $(if $(IS_MIPS),--config 'patch.crates-io.sled.path="$(SLED_PATCHED)"') \
                  $(if $(IS_32BIT),--config 'patch.crates-io.polling.path="$(POLLING_PATCHED)"') \
                  $(if $(IS_SMALL_RING),--config 'patch.crates-io.ring.path="$(RING_PATCHED)"')

# The shipped binary (`make cross`): by default std is rebuilt for size on
# every target with nightly, with `optimize_for_size` as its only feature:
# the list replaces cargo's default one, so std has no `backtrace` feature
# (no symbolizer; its hook prints no backtrace). Panics abort (the release
# profile's `panic = "abort"`) after src/panic_line.rs has written one line
# to stderr; `panic = "immediate-abort"`, used before, aborted before any
# hook ran and left nothing in the log (what the line costs: README,
# "Cross builds and size"). SIZE_STD=0 builds it as the tests do: stable
# std for aarch64, plain build-std for the others.
SIZE_STD ?= 1
SHIP_STD := $(if $(IS_STD_BUILD),1,$(filter 1,$(SIZE_STD)))
SHIP_TC  := $(if $(SHIP_STD),$(NIGHTLY),stable)
SHIP_BUILD_STD := $(if $(SHIP_STD),-Zbuild-std=std$(comma)panic_abort) \
  $(if $(filter 1,$(SIZE_STD)),-Zbuild-std-features=optimize_for_size)
# zig brings the C runtime objects; a rebuilt aarch64 std must not look
# for rustup's. With that std, no unwind tables either: panics abort and
# std prints no backtraces, so nothing reads them (157 KiB of the aarch64
# binary before the panic line, 181 KiB with it; README). A std that can
# print backtraces (SIZE_STD=0) keeps them.
SHIP_RUSTFLAGS := $(CROSS_RUSTFLAGS) \
  $(if $(and $(SHIP_STD),$(filter aarch64-unknown-linux-musl x86_64-unknown-linux-musl,$(TRIPLE))),-C link-self-contained=no) \
  $(if $(filter 1,$(SIZE_STD)),-C force-unwind-tables=no)
# A panic's location names its file as rustc was given it: cut the long
# prefixes of cargo's registry, nightly's rust-src and the patched copies
# down to the crate's directory (`sled-0.34.7/src/lib.rs`,
# `core/src/option.rs`). Shorter panic lines, no build-machine paths in
# the binary, and 13 KiB less on aarch64. (Recursive: the registry and the
# toolchain exist only once the prerequisites have run.)
CARGO_HOME_DIR := $(or $(CARGO_HOME),$(HOME)/.cargo)
SHIP_REMAP = $(foreach d,$(wildcard $(CARGO_HOME_DIR)/registry/src/*/),--remap-path-prefix=$(d)=) \
  $(if $(SHIP_STD),--remap-path-prefix=$(shell rustup run $(SHIP_TC) rustc --print sysroot)/lib/rustlib/src/rust/library/=) \
  --remap-path-prefix=$(patsubst ./%,%,$(TARGET_DIR))/cross-patches/= \
  --remap-path-prefix=$(abspath $(TARGET_DIR))/cross-patches/=
SHIP_ENV = PATH="$(ZIG_VENV)/bin:$$PATH" RUSTUP_TOOLCHAIN=$(SHIP_TC) \
           RUSTFLAGS="$(strip $(SHIP_RUSTFLAGS) $(SHIP_REMAP))"

# The cargo-zigbuild command line for TRIPLE, with zig on PATH.
CROSS_ENV = PATH="$(ZIG_VENV)/bin:$$PATH" RUSTUP_TOOLCHAIN=$(CROSS_CARGO_TC) \
            RUSTFLAGS="$(strip $(CROSS_RUSTFLAGS))"
# A patched crate changes Cargo.lock's entry for it: restore the committed file.
# EDGEMQ_BUILD_LOCK: the committed lock's checksum, for build.rs (why there).
define with_lock_kept
mkdir -p $(TARGET_DIR); cp Cargo.lock $(TARGET_DIR)/.Cargo.lock.cross; \
export EDGEMQ_BUILD_LOCK="$$(cksum < Cargo.lock)"; \
$(1); rc=$$?; \
cp $(TARGET_DIR)/.Cargo.lock.cross Cargo.lock; exit $$rc
endef

.PHONY: systemd-verify rootfs-check openwrt-check cross cross-all cross-test cross-deps cross-check-target size rootfs panic-check \
        cross-deps-rust cross-deps-zig cross-deps-qemu cross-deps-objcopy cross-sled-patch

cross-check-target:
	@case " $(ALL_TARGETS) " in *" $(TRIPLE) "*) ;; \
	  *) echo "error: TARGET=$(TARGET): one of $(ALL_TARGETS) (or aarch64, armv7, mips, mipsel, x86_64)" >&2; exit 1;; esac

cross: cross-check-target cross-deps-rust cross-deps-zig cross-deps-objcopy cross-sled-patch
	@mkdir -p $(TARGET_DIR)
	@echo "cross: $(TRIPLE) with $$(rustup run $(SHIP_TC) rustc -V)$(if $(filter 1,$(SIZE_STD)), (std rebuilt for size))"
	@$(call with_lock_kept,$(SHIP_ENV) $(CARGO_ZIGBUILD) zigbuild --release --bin $(BIN) \
	  --target $(TRIPLE) $(CROSS_FEATURES) $(SHIP_BUILD_STD) $(CROSS_PATCH))
ifneq ($(IS_MIPS),)
	@$$(command -v llvm-objcopy || command -v mips-linux-gnu-objcopy) --remove-section .pdr \
	  $(TARGET_DIR)/$(TRIPLE)/release/$(BIN)
endif
	@ls -l $(TARGET_DIR)/$(TRIPLE)/release/$(BIN)

# MIPS objects carry a .pdr section (procedure descriptors, for debuggers;
# never loaded) that strip keeps: about 230 KB of the binary. zig's objcopy
# cannot remove a section, so `cross` uses llvm-objcopy or binutils' MIPS
# objcopy, installing the latter (apt) when neither is there.
cross-deps-objcopy: cross-check-target
ifneq ($(IS_MIPS),)
	@command -v llvm-objcopy >/dev/null 2>&1 || command -v mips-linux-gnu-objcopy >/dev/null 2>&1 || { \
	  command -v apt-get >/dev/null 2>&1 || { echo "error: no llvm-objcopy or mips-linux-gnu-objcopy; install binutils-mips-linux-gnu" >&2; exit 1; }; \
	  if ! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1; then $(SUDO) apt-get update; fi; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends binutils-mips-linux-gnu; }
endif

cross-all:
	@for t in $(CROSS_TARGETS); do $(MAKE) --no-print-directory cross TARGET=$$t || exit 1; done
	@$(MAKE) --no-print-directory size

# Unit, property and end-to-end tests compiled for TRIPLE and run under
# qemu-user: cargo's target runner runs the test binaries, EDGEMQ_RUNNER the
# broker they spawn (tests/common). mosquitto_pub/_sub stay native.
cross-test: cross-check-target deps check-test-tools cross-deps-rust cross-deps-zig cross-deps-qemu cross-sled-patch
	@[ -n "$(QEMU)" ] || { echo "error: $(TRIPLE) is not emulated here; 'make test' tests the host build" >&2; exit 1; }
	@mkdir -p $(TARGET_DIR)
	@echo "cross-test: $(TRIPLE) under $(QEMU) with $$(rustup run $(CROSS_CARGO_TC) rustc -V)"
	@$(if $(strip $(CROSS_TEST_SKIP)),echo "cross-test: SKIPPING $(words $(CROSS_TEST_SKIP)) tests: $(strip $(CROSS_TEST_SKIP))",true)
	@$(call with_lock_kept,$(CROSS_ENV) EDGEMQ_RUNNER=$(QEMU) EDGEMQ_ASYNC_IO_PATCHED=1 \
	  $(CARGO_ZIGBUILD) test --profile cross-test --no-fail-fast --target $(TRIPLE) \
	  $(CROSS_TEST_BUILD_STD) $(CROSS_PATCH) \
	  --config 'target.$(TRIPLE).runner="$(QEMU)"' $(CROSS_TEST_ARGS) \
	  -- --test-threads=$(CROSS_TEST_THREADS) $(addprefix --skip ,$(CROSS_TEST_SKIP)))

# The panic line (src/panic_line.rs) in a build made like the shipped one:
# examples/panic_line.rs, built as `cross` builds edgemq (release profile,
# the same std), run under qemu-user by the native tests/panic_line.rs,
# which checks for one line on stderr and death by SIGABRT. The broker itself
# has no way to panic on purpose.
PANIC_CHECK_BIN = $(abspath $(TARGET_DIR))/$(TRIPLE)/release/examples/panic_line
panic-check: cross-check-target cross-deps-rust cross-deps-zig cross-deps-qemu cross-sled-patch
	@mkdir -p $(TARGET_DIR)
	@echo "panic-check: $(TRIPLE) with $$(rustup run $(SHIP_TC) rustc -V)$(if $(filter 1,$(SIZE_STD)), (std rebuilt for size))"
	@$(call with_lock_kept,$(SHIP_ENV) $(CARGO_ZIGBUILD) zigbuild --release --example panic_line \
	  --target $(TRIPLE) $(CROSS_FEATURES) $(SHIP_BUILD_STD) $(CROSS_PATCH))
	@$(call with_lock_kept,EDGEMQ_PANIC_CHECK_BIN=$(PANIC_CHECK_BIN) EDGEMQ_RUNNER=$(QEMU) \
	  EDGEMQ_ASYNC_IO_PATCHED=1 $(CARGO) $(ASYNC_IO_PATCH) test --test panic_line -- --exact shipped_build --nocapture)

# The patched copies: sled for MIPS (it panics on 32-bit MIPS), polling
# for the 32-bit targets, ring for aarch64 (small).
cross-sled-patch: cross-check-target async-io-patch
ifneq ($(IS_MIPS),)
	@cross/patch-sled.sh $(SLED_PATCH_DIR) >/dev/null
endif
ifneq ($(IS_32BIT),)
	@cross/patch-polling.sh $(SLED_PATCH_DIR) >/dev/null
endif
ifneq ($(IS_SMALL_RING),)
	@cross/patch-ring.sh $(SLED_PATCH_DIR) >/dev/null
endif

cross-deps: cross-check-target cross-deps-rust cross-deps-zig cross-deps-qemu cross-deps-objcopy

# The Rust side: a prebuilt std (rustup target), or the pinned nightly
# (NIGHTLY_VERSION above) + rust-src.
cross-deps-rust: cross-check-target
	@command -v rustup >/dev/null 2>&1 || { echo "error: cross builds need rustup (https://rustup.rs)" >&2; exit 1; }
ifneq ($(SHIP_STD),)
	@if ! rustup run $(NIGHTLY) rustc -V >/dev/null 2>&1; then \
	  echo "$(TRIPLE) builds std from source: installing $(NIGHTLY) ($(NIGHTLY_VERSION))"; \
	  rustup toolchain install $(NIGHTLY) --profile minimal --component rust-src --no-self-update || { \
	    echo "error: $(TRIPLE) needs the nightly pinned in cross/cross.mk ($(NIGHTLY_VERSION)) with rust-src;" >&2; \
	    echo "       'rustup toolchain install $(NIGHTLY) --component rust-src' failed here." >&2; exit 1; }; \
	fi
	@v=$$(rustup run $(NIGHTLY) rustc -V); [ "$$v" = "$(NIGHTLY_VERSION)" ] || { \
	  echo "error: toolchain '$(NIGHTLY)' is '$$v', but the builds are pinned to '$(NIGHTLY_VERSION)' (cross/cross.mk, NIGHTLY_VERSION)." >&2; \
	  echo "       Install it: rustup toolchain install $(NIGHTLY_DIST) --profile minimal --component rust-src" >&2; \
	  echo "       (or re-pin: change NIGHTLY_VERSION and NIGHTLY_DIST together, and re-measure the size table)." >&2; exit 1; }
	@rustup component list --installed --toolchain $(NIGHTLY) 2>/dev/null | grep -q '^rust-src' || \
	  rustup component add rust-src --toolchain $(NIGHTLY)
endif
ifeq ($(IS_STD_BUILD),)
	@rustup target list --installed --toolchain stable | grep -qx '$(TRIPLE)' || \
	  rustup target add $(TRIPLE) --toolchain stable
endif

# zig (C compiler and musl linker) and cargo-zigbuild, from PyPI, in a venv.
cross-deps-zig:
	@if [ ! -x $(CARGO_ZIGBUILD) ] || [ ! -x $(ZIG_VENV)/bin/python-zig ]; then \
	  echo "installing zig and cargo-zigbuild into $(ZIG_VENV)"; \
	  if ! $(PYTHON) -m venv $(ZIG_VENV) 2>/dev/null; then \
	    command -v apt-get >/dev/null 2>&1 || { echo "error: '$(PYTHON) -m venv' failed; install Python's venv module" >&2; exit 1; }; \
	    if ! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1; then $(SUDO) apt-get update; fi; \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv python3-pip; \
	    rm -rf $(ZIG_VENV); $(PYTHON) -m venv $(ZIG_VENV) || exit 1; \
	  fi; \
	  $(ZIG_VENV)/bin/pip install --quiet '$(ZIGLANG_PIP)' '$(ZIGBUILD_PIP)' || exit 1; \
	fi

cross-deps-qemu: cross-check-target
	@[ -z "$(QEMU)" ] || command -v $(QEMU) >/dev/null 2>&1 || { \
	  command -v apt-get >/dev/null 2>&1 || { echo "error: no $(QEMU); install qemu-user" >&2; exit 1; }; \
	  if ! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1; then $(SUDO) apt-get update; fi; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends qemu-user; }

# Size of every cross-built edgemq against its budget (README.md ## Cross
# builds and size), the budgets below.
# Cargo feature flags for `cross` (and so `size`): e.g.
# CROSS_FEATURES=--no-default-features leaves out the bridge and its TLS.
CROSS_FEATURES ?=
MINIMAL := $(findstring --no-default-features,$(CROSS_FEATURES))
# The budget: aarch64 <= 1.6 MiB with everything (1.5 MiB before TLS
# listeners brought rustls and ring), <= 1.0 MiB without the bridge and
# TLS; mips <= 2.2 MiB with everything (2.0 MiB before TLS listeners).
SIZE_BUDGET_aarch64-unknown-linux-musl := $(if $(MINIMAL),1048576,1677721)
SIZE_BUDGET_mips-unknown-linux-musl    := 2306867
size:
	@printf '%-32s %10s %9s %10s  %s\n' target bytes KiB budget status
	@for t in $(CROSS_TARGETS); do \
	  f=$(TARGET_DIR)/$$t/release/$(BIN); \
	  case $$t in \
	    aarch64-unknown-linux-musl) b=$(SIZE_BUDGET_aarch64-unknown-linux-musl);; \
	    mips-unknown-linux-musl) b=$(SIZE_BUDGET_mips-unknown-linux-musl);; \
	    *) b=;; esac; \
	  if [ ! -f $$f ]; then printf '%-32s %10s %9s %10s  %s\n' $$t - - "$${b:--}" "not built (make cross TARGET=$$t)"; continue; fi; \
	  n=$$(wc -c < $$f); st=ok; \
	  if [ -n "$$b" ] && [ $$n -gt $$b ]; then st=OVER; fi; \
	  [ -n "$$b" ] || st=-; \
	  printf '%-32s %10d %9.1f %10s  %s\n' $$t $$n "$$(awk "BEGIN { print $$n / 1024 }")" "$${b:--}" $$st; \
	done

# An OpenWrt-style overlay for firmware builders: /usr/bin/edgemq, the procd
# init script, the router config and the sysupgrade keep list.
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
ROOTFS_TAR = $(TARGET_DIR)/$(TRIPLE)/edgemq-rootfs-$(VERSION)-$(TRIPLE).tar.gz
rootfs: rootfs-check cross
	@rm -rf $(TARGET_DIR)/$(TRIPLE)/rootfs && mkdir -p $(TARGET_DIR)/$(TRIPLE)/rootfs/usr/bin
	@cp -R rootfs/. $(TARGET_DIR)/$(TRIPLE)/rootfs/
	@cp $(TARGET_DIR)/$(TRIPLE)/release/$(BIN) $(TARGET_DIR)/$(TRIPLE)/rootfs/usr/bin/$(BIN)
	@cd $(TARGET_DIR)/$(TRIPLE)/rootfs && \
	  chmod 0755 usr/bin/$(BIN) etc/init.d/edgemq && \
	  chmod 0644 etc/edgemq/edgemq.conf && \
	  chmod 0644 lib/upgrade/keep.d/edgemq
	@tar -C $(TARGET_DIR)/$(TRIPLE)/rootfs --owner=0 --group=0 --numeric-owner --sort=name \
	  -czf $(ROOTFS_TAR) .
	@echo "rootfs: $(ROOTFS_TAR)"; tar -tvzf $(ROOTFS_TAR)

# The init script must parse with a POSIX shell (OpenWrt's is busybox ash).
rootfs-check:
	sh -n rootfs/etc/init.d/edgemq
	@if command -v busybox >/dev/null 2>&1; then busybox sh -n rootfs/etc/init.d/edgemq; fi

# The OpenWrt package (cross/openwrt): its init script under stand-ins of
# the procd functions, its recipe against a stand-in SDK, its config checked
# by the debug build when there is one (tests/openwrt/check.sh says what
# else). A few seconds; no SDK, no cross build.
openwrt-check:
	@EDGEMQ_BIN=$(wildcard $(abspath $(TARGET_DIR))/debug/$(BIN)) tests/openwrt/check.sh

# `systemd-analyze verify` of the unit, against the native release binary
# (it checks that ExecStart exists; the debug build will do). Its warnings
# exit 0: any output fails.
systemd-verify: build
	@command -v systemd-analyze >/dev/null 2>&1 || { \
	  command -v apt-get >/dev/null 2>&1 || { echo "error: no systemd-analyze (package systemd)" >&2; exit 1; }; \
	  if ! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1; then $(SUDO) apt-get update; fi; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends systemd; }
	@rm -rf $(TARGET_DIR)/systemd-verify && mkdir -p $(TARGET_DIR)/systemd-verify
	@sed 's|/usr/bin/$(BIN)|$(abspath $(TARGET_DIR))/debug/$(BIN)|' systemd/edgemq.service \
	  > $(TARGET_DIR)/systemd-verify/edgemq.service
	@out=$$(systemd-analyze verify $(TARGET_DIR)/systemd-verify/edgemq.service 2>&1); rc=$$?; \
	  if [ $$rc -ne 0 ] || [ -n "$$out" ]; then echo "$$out" >&2; echo "systemd-verify: FAILED" >&2; exit 1; fi; \
	  echo "systemd-analyze verify systemd/edgemq.service: OK ($$(systemd-analyze --version | head -n 1))"
