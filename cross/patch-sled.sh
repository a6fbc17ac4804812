#!/bin/sh
# Makes a patched copy of sled 0.34.7 for 32-bit MIPS builds and prints its
# directory. The Makefile passes that directory to cargo as
#   --config 'patch.crates-io.sled.path="DIR"'
# for the mips and mipsel targets only; every other target uses the registry
# copy untouched. sled's source is never committed to this repository.
#
#   cross/patch-sled.sh OUT_DIR      (prints OUT_DIR/sled-0.34.7)
#
# Why: on target_arch = "mips" sled replaces AtomicU64 by its atomic_shim
# (a lock owning a boxed slice), and src/lru.rs builds `[AtomicU64; 64]` with
# `MaybeUninit::zeroed().assume_init()`: every shim is an empty slice, and the
# first insert panics with "index out of bounds: the len is 0". Building the
# array element by element with `std::array::from_fn` fixes it. A path
# dependency is not lint-capped like a registry one, so sled's
# `#![deny(...)]` lists (written for a 2021 rustc) are relaxed to `allow`.
#
# Idempotent: an existing, already patched copy is reused.
set -eu

. "$(dirname "$0")/patch-copy.sh"
patch_copy sled 0.34.7 "${1:?usage: patch-sled.sh OUT_DIR}"

LRU="$WORK/src/lru.rs"
grep -q 'block: unsafe { MaybeUninit::zeroed().assume_init() },' "$LRU" || {
    echo "patch-sled.sh: $LRU does not contain the expected line; sled changed?" >&2
    exit 1
}
sed -i 's/block: unsafe { MaybeUninit::zeroed().assume_init() },/block: std::array::from_fn(|_| AtomicU64::new(0)),/' "$LRU"
# The import is now unused; keep the file warning-free.
sed -i 's/^use std::mem::MaybeUninit;$//' "$LRU"

LIB="$WORK/src/lib.rs"
sed -i 's/^#!\[deny($/#![allow(/' "$LIB"
# Its warnings under today's rustc are sled's business, not ours: quiet them.
sed -i '1i #![allow(warnings)]' "$LIB"
grep -q '^#!\[deny(' "$LIB" && { echo "patch-sled.sh: a #![deny] is left in $LIB" >&2; exit 1; }

patch_done
