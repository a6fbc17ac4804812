//! The broker's tasks are spawned here, their futures boxed (all but the
//! connection tasks, one type already: transport.rs): the executor's
//! task machinery (async-task's allocate, poll, wake, cancel and drop,
//! async-executor's wrapper) is then compiled once, for `Pin<Box<dyn
//! Future>>`, instead of once per kind of future with that future's body
//! inlined into it (README, "Cross builds and size"). A task costs one
//! more allocation, its poll one indirect call.

use std::future::Future;
use std::pin::Pin;

use smol::{LocalExecutor, Task};

type Boxed = Pin<Box<dyn Future<Output = ()>>>;

/// `executor.spawn(future)`, boxed.
pub(crate) fn spawn(
    executor: &LocalExecutor<'static>,
    future: impl Future<Output = ()> + 'static,
) -> Task<()> {
    spawn_boxed(executor, Box::pin(future))
}

/// The one instantiation of the executor's `spawn`.
#[inline(never)]
fn spawn_boxed(executor: &LocalExecutor<'static>, future: Boxed) -> Task<()> {
    executor.spawn(future)
}
