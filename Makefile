# edgemq — developer entry points.
#
#   make run      build (release) and run with no config: the embedded default,
#                 anonymous MQTT on 127.0.0.1:1883, store in ./edgemq-data/.
#                 Pass arguments with ARGS, e.g. make run ARGS="-c my.conf"
#   make test     installs the test tools when missing (`make deps`), then runs
#                 all tests (unit, property, end-to-end against the real binary)
#   make deps     install the test tools (Debian/Ubuntu: mosquitto-clients;
#                 `make deps-ws`: node + MQTT.js, python3 + paho-mqtt)
#   make build    debug build            make release   size-optimised release build
#   make soak DURATION=2m   the release broker under a mixed load for
#                 DURATION (120, 90s, 10m, 1h), its RSS, open files and store
#                 sampled every 5 s; fails on growth or loss (tests/soak/soak.sh)
#   make lint     rustfmt check + clippy (warnings are errors), default and
#                 minimal feature sets
#   make check-rust-version   fail when a locked dependency needs a newer Rust
#                 than Cargo.toml's rust-version (needs jq)
#   make check-references     fail on a citation of a document the repository
#                 does not hold (cite docs/, README.md or the MQTT spec)
#   make fuzz     each cargo-fuzz target (tests/fuzz/) for FUZZ_SECONDS (600)
#                 in turn, from its committed seeds; needs nightly, installs
#                 cargo-fuzz when missing. One target: FUZZ_TARGETS=codec.
#                 `make test` replays the seeds (tests/fuzz_corpora.rs)
#   make install  release binary, man page, systemd unit, gateway config (kept
#                 if present), docs: PREFIX=/usr/local DESTDIR= SYSCONFDIR=/etc
#   make deb      a Debian package (dpkg-deb); deb-check, install-check: CI's
#   make clean    remove build output
#
# Cross builds (static musl, size-optimised; no Docker; see cross/README.md):
#   make cross TARGET=mips-unknown-linux-musl   -> $(TARGET_DIR)/TRIPLE/release/edgemq
#   make cross-all        aarch64, armv7, mips and mipsel
#   make cross-test TARGET=…   unit + end-to-end tests under qemu-user
#   make panic-check TARGET=…  the panic line (src/panic_line.rs) of a build
#                 made like `cross`'s, under qemu-user: one line, then SIGABRT
#   make size             size table of every cross-built edgemq (README)
#   make rootfs TARGET=…  OpenWrt-style tarball: binary, init script, config
#   make openwrt-check    the OpenWrt package recipe (cross/openwrt) against a
#                 stand-in SDK, its init script under stand-in procd functions
#   make cross-deps TARGET=…   install what the cross build needs (run by the
#                 rules above): rustup target or nightly rust-src, zig and
#                 cargo-zigbuild in a venv ($(CROSS_HOME)), qemu-user
#   TARGET may be a short name: aarch64, armv7, mips, mipsel.

CARGO      ?= cargo
TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),./target)
BIN        := edgemq
ARGS       ?=

# Every build made here uses a patched async-io: its helper thread would
# otherwise take the event loop away from the broker's thread after each
# idle spell (cross/patch-async-io.sh says why and what was measured). The
# copy is made under the target directory, never committed; a plain `cargo
# build` works too, without the patch.
PATCH_DIR        := $(abspath $(TARGET_DIR))/cross-patches
ASYNC_IO_PATCHED := $(PATCH_DIR)/async-io-2.6.0
ASYNC_IO_PATCH   := --config 'patch.crates-io.async-io.path="$(ASYNC_IO_PATCHED)"'
# `cargo` with the patch; the patch rewrites Cargo.lock's async-io entry,
# so the committed file is put back afterwards. The variable tells
# tests/e2e_event_loop.rs that the binary under test has the patch.
PATCHED_CARGO = $(call with_lock_kept,EDGEMQ_ASYNC_IO_PATCHED=1 $(CARGO) $(ASYNC_IO_PATCH) $(1))

# Packages and commands the end-to-end tests run (Debian names).
TEST_DEB   := mosquitto-clients
TEST_TOOLS := mosquitto_pub mosquitto_sub stdbuf

# apt-get as root, or through sudo for everyone else.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: all build release run test fuzz check-test-tools deps deps-bridge deps-ws lint check-rust-version check-references clean help async-io-patch soak

all: build

help:
	@awk '/^$$/ {exit} {sub(/^# ?/, ""); print}' Makefile

build: async-io-patch
	@$(call PATCHED_CARGO,build)

release: async-io-patch
	@$(call PATCHED_CARGO,build --release)

async-io-patch:
	@mkdir -p $(PATCH_DIR)
	@cross/patch-async-io.sh $(PATCH_DIR) >/dev/null

# No config file: edgemq falls back to its embedded default and says so in its log.
run: release
	$(TARGET_DIR)/release/$(BIN) $(ARGS)

# `bench`: the load generator (tests/bench/) is built and tested too.
test: deps check-test-tools async-io-patch
	@$(call PATCHED_CARGO,test --all-targets --features bench)

check-test-tools:
	@missing=""; \
	for t in $(TEST_TOOLS); do command -v $$t >/dev/null 2>&1 || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  echo "error: the end-to-end tests need:$$missing (mosquitto_pub/_sub: package $(TEST_DEB); stdbuf: coreutils)." >&2; \
	  echo "       Run 'make deps' (apt-get install $(TEST_DEB)), then 'make test' again." >&2; \
	  exit 1; \
	fi

deps: deps-bridge deps-ws
	@if command -v mosquitto_pub >/dev/null 2>&1 && command -v mosquitto_sub >/dev/null 2>&1; then \
	  echo "mosquitto-clients already installed: $$(command -v mosquitto_pub)"; \
	else \
	  command -v apt-get >/dev/null 2>&1 || { echo "error: no apt-get; install $(TEST_DEB) (mosquitto_pub, mosquitto_sub) with your package manager" >&2; exit 1; }; \
	  if ! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1; then $(SUDO) apt-get update; fi; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(TEST_DEB); \
	fi

# Soak (tests/soak/soak.sh says what runs and what is checked): the
# release broker and the load generator, then DURATION of load against
# them with a Debian mosquitto as the bridge's flapping cloud.
DURATION ?= 2m
soak: async-io-patch
	@command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || { echo "error: make soak needs mosquitto (apt-get install mosquitto)" >&2; exit 1; }
	@$(call PATCHED_CARGO,build --release --features bench --bin edgemq --bin edgemq-bench)
	EDGEMQ_BIN=$(TARGET_DIR)/release/$(BIN) BENCH_BIN=$(TARGET_DIR)/release/edgemq-bench tests/soak/soak.sh $(DURATION)

# The default features and the minimal set (what a firmware without the
# bridge, TLS, WebSocket and JWTs builds), both with the load generator.
# Test code's allowances are in clippy.toml.
lint: async-io-patch
	$(CARGO) fmt --all -- --check
	@$(call PATCHED_CARGO,clippy --all-targets --features bench -- -D warnings)
	@$(call PATCHED_CARGO,clippy --all-targets --no-default-features --features bench -- -D warnings)

# Every package of Cargo.lock against Cargo.toml's rust-version, and the
# README's stated minimum against both: the script's header says which
# packages and why.
check-rust-version:
	@.ci/check-rust-version.sh

# Every citation in code, tests, docs and scripts resolves to a section of
# docs/ or README.md, or to the MQTT specifications: the script's header
# says what it rejects.
check-references:
	@.ci/check-references.sh

clean:
	$(CARGO) clean

# --- fuzzing: libFuzzer through cargo-fuzz, on nightly (README "Fuzzing") ---
# Each target starts from its committed seeds (tests/fuzz/corpus/TARGET,
# read only) and writes what it finds to a scratch corpus under the target
# directory; a crash stops the rule, its input under
# tests/fuzz/artifacts/TARGET/.
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?= codec broker config store_record auth_files
FUZZ_WORK    := $(abspath $(TARGET_DIR))/fuzz-corpus

fuzz:
	@$(CARGO) fuzz --version >/dev/null 2>&1 || $(CARGO) install cargo-fuzz
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_WORK)/$$t; \
	  echo "==> fuzz $$t for $(FUZZ_SECONDS) s"; \
	  $(CARGO) +nightly fuzz run $$t --fuzz-dir tests/fuzz $(FUZZ_WORK)/$$t tests/fuzz/corpus/$$t \
	    -- -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 || exit 1; \
	done

# --- bridge tests: Debian's mosquitto broker plays the cloud (tests/e2e_bridge.rs) ---
deps-bridge:
	@if command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ]; then \
	  echo "mosquitto already installed"; \
	else \
	  command -v apt-get >/dev/null 2>&1 || { echo "error: no apt-get; install mosquitto (the broker) with your package manager" >&2; exit 1; }; \
	  if ! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1; then $(SUDO) apt-get update; fi; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends mosquitto; \
	fi

# --- WebSocket tests: MQTT.js and paho-mqtt as clients (tests/e2e_websocket.rs) ---
# Both are installed under the target directory, never system-wide: MQTT.js
# with npm (Debian's nodejs and npm), paho-mqtt with pip in a venv. The
# tests find them through EDGEMQ_WS_CLIENTS and skip, saying why, without.
WS_CLIENTS := $(abspath $(TARGET_DIR))/ws-clients
export EDGEMQ_WS_CLIENTS := $(WS_CLIENTS)
deps-ws:
	@need=""; \
	command -v node >/dev/null 2>&1 || need="$$need nodejs"; \
	command -v npm >/dev/null 2>&1 || need="$$need npm"; \
	command -v python3 >/dev/null 2>&1 || need="$$need python3"; \
	python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need="$$need python3-venv"; \
	if [ -n "$$need" ]; then \
	  command -v apt-get >/dev/null 2>&1 || { echo "error: no apt-get; install$$need with your package manager" >&2; exit 1; }; \
	  if ! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1; then $(SUDO) apt-get update; fi; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$need; \
	fi
	@if [ -f $(WS_CLIENTS)/node_modules/mqtt/package.json ]; then \
	  echo "MQTT.js already installed in $(WS_CLIENTS)"; \
	else \
	  mkdir -p $(WS_CLIENTS) && npm install --prefix $(WS_CLIENTS) --no-audit --no-fund --loglevel=error mqtt@5; \
	fi
	@if $(WS_CLIENTS)/venv/bin/python -c 'import paho.mqtt' >/dev/null 2>&1; then \
	  echo "paho-mqtt already installed in $(WS_CLIENTS)/venv"; \
	else \
	  python3 -m venv $(WS_CLIENTS)/venv && $(WS_CLIENTS)/venv/bin/pip install -q 'paho-mqtt>=2,<3'; \
	fi

# Cross builds, cross tests under qemu-user, size table, rootfs tarball.
include cross/cross.mk
# make install, the Debian package and their checks.
include debian/package.mk
