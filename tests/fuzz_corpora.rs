//! The committed fuzz corpora (tests/fuzz/corpus/TARGET/) replayed as
//! ordinary tests: every file through the harness function its fuzz
//! target calls (tests/fuzz/harness/, shared with the fuzz crate). Not
//! fuzzing: a quick check that inputs once interesting, and every past
//! finding, still pass. README.md, "Testing", says how to fuzz.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "fuzz/harness/mod.rs"]
mod harness;

use std::path::Path;

fn replay(target: &str) {
    let (_, run) = harness::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("a harness target");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: empty corpus", dir.display());
    for file in files {
        let data = std::fs::read(&file).unwrap();
        // A failing file is named before the harness's own message.
        eprintln!("replaying {}", file.display());
        run(&data);
    }
}

#[test]
fn codec_corpus() {
    replay("codec");
}

#[test]
fn broker_corpus() {
    replay("broker");
}

#[test]
fn config_corpus() {
    replay("config");
}

#[test]
fn store_record_corpus() {
    replay("store_record");
}

#[test]
fn auth_files_corpus() {
    replay("auth_files");
}
