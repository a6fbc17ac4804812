//! Panics on purpose, to check the panic line of a build configured like the
//! shipped one: `make panic-check TARGET=…` builds this example with the
//! release profile and the size-tuned std of `make cross`, runs it under
//! qemu-user and checks its stderr and its death by SIGABRT
//! (tests/panic_line.rs). The broker has no way to panic on purpose; this
//! is never part of a firmware image, which builds `--bin edgemq` only.
//!
//! `panic_line main`: an index out of bounds on the main thread;
//! `panic_line thread`: the same on a thread named `doomed-worker`.
//! Before panicking it prints where, on stdout: `expect FILE:LINE`.

#![allow(clippy::indexing_slicing, clippy::expect_used)]

fn main() {
    edgemq::panic_line::install();
    let on_thread = std::env::args().nth(1).as_deref() == Some("thread");
    if on_thread {
        let worker = std::thread::Builder::new()
            .name("doomed-worker".to_owned())
            .spawn(out_of_bounds)
            .expect("spawn");
        let _ = worker.join();
    } else {
        out_of_bounds();
    }
}

/// "index out of bounds: the len is 3 but the index is 7", with an index
/// the compiler cannot see.
fn out_of_bounds() {
    let v = [1u8, 2, 3];
    let index = std::hint::black_box(7);
    println!("expect {}:{}", file!(), line!() + 1);
    std::hint::black_box(v[index]);
}
