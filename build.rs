//! Records the build date for the store's plausible-wall-clock rule
//! (docs/design.md ## Durability): a wall clock earlier than the binary's
//! build is not trusted. Reproducible builds set SOURCE_DATE_EPOCH.
//!
//! Also tells the code which dependencies this build patched (cross/README.md,
//! "Patched dependencies"): the Makefile's rules pass cargo a patched copy of
//! async-io, polling (32-bit) and sled (MIPS), and cargo records a patched
//! package in Cargo.lock without a `source`. A plain `cargo build` or
//! `cargo install`, or a patch cargo left unused after a version change,
//! shows as the registry's. Each `edgemq_patched_NAME` cfg is set for a
//! patched one; src/build_checks.rs says at startup what a missing one
//! means, and a MIPS build without the sled patch fails here.

use std::time::{SystemTime, UNIX_EPOCH};

const PATCHABLE: [&str; 3] = ["async-io", "polling", "sled"];

fn main() {
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
    println!("cargo:rustc-env=EDGEMQ_BUILD_EPOCH={epoch}");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    println!("cargo:rerun-if-changed=build.rs");
    // The Makefile's patched builds rewrite Cargo.lock and put the
    // committed one back afterwards (cross.mk, with_lock_kept): its mtime
    // changes at every build, which would re-run this script and rebuild
    // the crate each time. They name the committed lock's checksum
    // instead (EDGEMQ_BUILD_LOCK), which changes with a `cargo update`;
    // other builds leave the lock alone and watch it.
    println!("cargo:rerun-if-env-changed=EDGEMQ_BUILD_LOCK");
    if std::env::var_os("EDGEMQ_BUILD_LOCK").is_none() {
        println!("cargo:rerun-if-changed=Cargo.lock");
    }

    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    for name in PATCHABLE {
        let cfg = format!("edgemq_patched_{}", name.replace('-', "_"));
        println!("cargo:rustc-check-cfg=cfg({cfg})");
        if is_path_package(&lock, name) {
            println!("cargo:rustc-cfg={cfg}");
        }
    }

    // sled 0.34.7 panics on its first insert on 32-bit MIPS (its atomic
    // shim; cross/patch-sled.sh says why): never build a broker that dies
    // on its first stored message.
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if arch == "mips" && !is_path_package(&lock, "sled") {
        eprintln!(
            "error: sled 0.34.7 panics on its first insert on 32-bit MIPS; this build uses the \
             registry's sled. Build with `make cross TARGET=mips` (or mipsel), which patches it \
             (cross/patch-sled.sh, cross/README.md)."
        );
        std::process::exit(1);
    }
}

/// Whether Cargo.lock lists `name` without a `source` (a path dependency,
/// which is what a `[patch]` with a path makes it).
fn is_path_package(lock: &str, name: &str) -> bool {
    let header = format!("name = \"{name}\"");
    lock.split("[[package]]")
        .filter(|block| block.lines().any(|l| l.trim() == header))
        .any(|block| {
            !block
                .lines()
                .any(|l| l.trim_start().starts_with("source = "))
        })
}
