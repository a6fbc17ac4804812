#!/bin/sh
# Makes a copy of ring 0.17.14 built "small" on aarch64, as ring already
# builds for every target but x86_64 and aarch64, and prints its
# directory. The Makefile passes it to cargo as
#   --config 'patch.crates-io.ring.path="DIR"'
# for the shipped aarch64 build (`make cross`, `panic-check`) and its
# `cross-test`; other targets and native builds use the registry copy.
# ring's source is never committed to this repository.
#
#   cross/patch-ring.sh OUT_DIR      (prints OUT_DIR/ring-0.17.14)
#
# Why: on aarch64 ring does P-256 with the nistz256 assembly, whose
# base-point table `ecp_nistz256_precomputed` is 148 KiB, and X25519 with
# a 24 KiB table; OPENSSL_SMALL (what MIPS, ARMv7 and the other targets
# get) uses the portable fiat-crypto P-256 code with a small table and a
# small X25519 table. The same curves and algorithms (TLS 1.2 and 1.3,
# ECDHE P-256 and X25519, ECDSA P-256 certificates, ES256 JWTs); base-
# point multiplications (a handshake's key share, an ECDSA signature) are
# slower. README, "Cross builds and size", has the bytes.
#
# Three edits, all checked: the C side defines OPENSSL_SMALL on aarch64
# (include/ring-core/target.h, which turns off OPENSSL_USE_NISTZ256);
# build.rs no longer assembles p256-armv8-asm nor compiles p256-nistz.c
# for aarch64 (the portable p256.c and gfp_p256.c take their place); the
# Rust side (src/ec/suite_b/ops/p256.rs) takes the portable twin
# multiplication, as on every other target.
#
# Idempotent: an existing, already patched copy is reused.
set -eu

. "$(dirname "$0")/patch-copy.sh"
patch_copy ring 0.17.14 "${1:?usage: patch-ring.sh OUT_DIR}"

edit() { # FILE OLD NEW: replace OLD (a fixed string) by NEW; OLD must be there
    OLD="$2" NEW="$3" perl -0pi -e '$n = s/\Q$ENV{OLD}\E/$ENV{NEW}/g; $n or die "not found\n"' "$1" || {
        echo "patch-ring.sh: expected text not in $1; ring changed?" >&2; exit 1; }
}

edit "$WORK/include/ring-core/target.h" \
    '#if !defined(OPENSSL_X86_64) && !defined(OPENSSL_AARCH64)' \
    '#if !defined(OPENSSL_X86_64)'
edit "$WORK/build.rs" \
    '(&[AARCH64, X86_64], "crypto/fipsmodule/ec/p256-nistz.c"),' \
    '(&[X86_64], "crypto/fipsmodule/ec/p256-nistz.c"),'
edit "$WORK/build.rs" \
    '    (&[AARCH64], "crypto/fipsmodule/ec/asm/p256-armv8-asm.pl"),
' ''
edit "$WORK/src/ec/suite_b/ops/p256.rs" \
    '        all(target_arch = "aarch64", target_endian = "little"),
' ''
edit "$WORK/src/ec/suite_b/ops/p256.rs" \
    '    all(target_arch = "aarch64", target_endian = "little"),
' ''
patch_done
