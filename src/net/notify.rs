//! Wake-ups for tasks: [`Notify`], a flag for a single task (the sweep
//! timer, a bridge), and [`WakeTable`] for the connection tasks, where the
//! broker lists the connections it has news for and the event loop wakes
//! them.
//!
//! Invariant: news that comes while its task runs is not lost between the
//! task's last look and its wait — `Notify` keeps a flag; a connection's
//! task is simply polled again, since waking a running task reschedules it.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

#[derive(Default)]
pub struct Notify {
    flagged: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

impl Notify {
    pub fn notify(&self) {
        self.flagged.set(true);
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    /// Resolves once `notify` has been called since the last wait.
    pub fn notified(&self) -> Notified<'_> {
        Notified { notify: self }
    }
}

pub struct Notified<'a> {
    notify: &'a Notify,
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.notify.flagged.replace(false) {
            return Poll::Ready(());
        }
        self.notify.waker.set(Some(cx.waker().clone()));
        Poll::Pending
    }
}

/// Every live connection task's waker, by `ConnId::index`, stored inline:
/// 16 bytes a slot, where an `Rc<Notify>` per connection cost a 48-byte
/// allocation plus a pointer in the table and in the task
/// (README.md ## Performance: RSS per idle connection).
///
/// There is no flag: a task's waker stays here from its first wait until
/// the connection ends, and a task looks at all its news (frames, closing,
/// reading allowed) before each wait. News before the first wait is seen
/// by that first look; news after it wakes the task, and waking a task
/// while it runs makes the executor poll it again.
#[derive(Default)]
pub(super) struct WakeTable {
    wakers: RefCell<Vec<Option<Waker>>>,
}

impl WakeTable {
    /// A new connection took slot `index`: no waker yet.
    pub(super) fn register(&self, index: usize) {
        let mut wakers = self.wakers.borrow_mut();
        if wakers.len() <= index {
            wakers.resize_with(index + 1, || None);
        }
        if let Some(slot) = wakers.get_mut(index) {
            *slot = None;
        }
    }

    /// The connection in slot `index` has ended; drops its waker.
    pub(super) fn forget(&self, index: usize) {
        if let Some(slot) = self.wakers.borrow_mut().get_mut(index) {
            *slot = None;
        }
    }

    /// Wakes slot `index`'s task.
    pub(super) fn notify(&self, index: usize) {
        if let Some(Some(waker)) = self.wakers.borrow().get(index) {
            // Schedules the task; it does not run it here, so the table is
            // not borrowed again from inside this call.
            waker.wake_by_ref();
        }
    }

    /// Whether slot `index`'s task has waited before (it then has a
    /// waker here): a wake-up since may be the broker's rather than its
    /// socket's.
    pub(super) fn has_waited(&self, index: usize) -> bool {
        self.wakers.borrow().get(index).is_some_and(Option::is_some)
    }

    /// Remembers `cx`'s waker for slot `index`'s next notify; the task is
    /// about to wait.
    pub(super) fn register_waker(&self, index: usize, cx: &Context<'_>) {
        let mut wakers = self.wakers.borrow_mut();
        let Some(slot) = wakers.get_mut(index) else {
            return;
        };
        if !slot
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()))
        {
            *slot = Some(cx.waker().clone());
        }
    }
}
