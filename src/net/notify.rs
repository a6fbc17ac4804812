//! Wake-up flags for tasks: [`Notify`] for a single task (the sweep timer,
//! a bridge), and [`WakeTable`] for the connection tasks, where the broker
//! lists the connections it has news for and the event loop sets their flags.
//!
//! Invariant: a flag set while its task runs is seen by that task's next
//! check, so no news is lost between a check and the wait that follows it.

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

/// Every live connection's wake-up flag and waker, by `ConnId::index`,
/// stored inline: 24 bytes a slot, where an `Rc<Notify>` per connection
/// cost a 48-byte allocation plus a pointer in the table and in the task
/// (issue 6: RSS per idle connection).
#[derive(Default)]
pub(super) struct WakeTable {
    slots: RefCell<Vec<WakeSlot>>,
}

#[derive(Default)]
struct WakeSlot {
    flagged: bool,
    waker: Option<Waker>,
}

impl WakeTable {
    /// A new connection took slot `index`: no flag, no waker yet.
    pub(super) fn register(&self, index: usize) {
        let mut slots = self.slots.borrow_mut();
        if slots.len() <= index {
            slots.resize_with(index + 1, WakeSlot::default);
        }
        if let Some(slot) = slots.get_mut(index) {
            *slot = WakeSlot::default();
        }
    }

    /// The connection in slot `index` has ended; drops its waker.
    pub(super) fn forget(&self, index: usize) {
        if let Some(slot) = self.slots.borrow_mut().get_mut(index) {
            *slot = WakeSlot::default();
        }
    }

    /// Sets slot `index`'s flag and wakes its task.
    pub(super) fn notify(&self, index: usize) {
        if let Some(slot) = self.slots.borrow_mut().get_mut(index) {
            slot.flagged = true;
            if let Some(waker) = &slot.waker {
                // Schedules the task; it does not run it here, so the
                // table is not borrowed again from inside this call.
                waker.wake_by_ref();
            }
        }
    }

    /// `true` (and the flag cleared) when slot `index` was notified since
    /// the last call; otherwise remembers `cx`'s waker for the next notify.
    pub(super) fn poll_flag(&self, index: usize, cx: &Context<'_>) -> bool {
        let mut slots = self.slots.borrow_mut();
        let Some(slot) = slots.get_mut(index) else {
            return false;
        };
        if std::mem::take(&mut slot.flagged) {
            return true;
        }
        if !slot
            .waker
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()))
        {
            slot.waker = Some(cx.waker().clone());
        }
        false
    }
}
