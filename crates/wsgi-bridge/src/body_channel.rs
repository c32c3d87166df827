//! The channel a streamed response body takes from the Python thread to the connection.
//!
//! # Why not a bounded tokio channel
//!
//! A channel bounded by a number of chunks makes a fast generator and the connection take
//! turns: once it is full, each chunk the connection takes wakes the Python thread for exactly
//! one more, and a response of a hundred 1 KiB chunks costs a hundred thread wake-ups each way
//! (measured: two thirds of the CPU of that benchmark went to switching threads). Here the bound
//! is on bytes, with hysteresis: the application waits only once [`HIGH_WATER`] bytes are
//! queued, and is woken once, when the connection has taken the queue down to [`LOW_WATER`].
//! The connection gives its taken bytes back in batches, so it takes the lock rarely.
//!
//! Chunks themselves go through tokio's unbounded channel, which wakes the connection as soon as
//! one arrives: a generator that yields and then waits (server-sent events, long polling) has
//! every chunk delivered at once.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::request::StreamAborted;

/// The application waits when this many bytes are queued for the client.
const HIGH_WATER: usize = 256 * 1024;
/// ... and goes on when the client has taken the queue down to this.
const LOW_WATER: usize = 64 * 1024;
/// What a chunk costs beyond its bytes (the queue's node, the Python object it keeps alive), so
/// that a generator of tiny chunks is bounded too.
const CHUNK_OVERHEAD: usize = 128;

type Item = Result<Bytes, StreamAborted>;

/// Makes a channel for one response body.
pub(crate) fn channel() -> (BodySender, BodyReceiver) {
    let (tx, rx) = mpsc::unbounded_channel();
    let budget = Arc::new(Budget::default());
    (
        BodySender {
            tx,
            budget: Arc::clone(&budget),
        },
        BodyReceiver {
            rx,
            budget,
            taken: 0,
        },
    )
}

/// How many bytes are queued, shared by both ends.
#[derive(Default)]
struct Budget {
    state: Mutex<BudgetState>,
    room: Condvar,
}

#[derive(Default)]
struct BudgetState {
    queued: usize,
    /// The sender is waiting for room.
    waiting: bool,
    /// The receiver is gone: nothing will make room any more.
    closed: bool,
}

impl Budget {
    fn lock(&self) -> MutexGuard<'_, BudgetState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn give_back(&self, bytes: usize) {
        let mut state = self.lock();
        state.queued = state.queued.saturating_sub(bytes);
        if state.waiting && state.queued <= LOW_WATER {
            state.waiting = false;
            self.room.notify_one();
        }
    }

    fn close(&self) {
        self.lock().closed = true;
        self.room.notify_one();
    }
}

/// The Python thread's end.
pub(crate) struct BodySender {
    tx: mpsc::UnboundedSender<Item>,
    budget: Arc<Budget>,
}

impl BodySender {
    /// Queues an item unless the queue is over its high-water mark: `Err(item)` then, for
    /// [`BodySender::send_blocking`] (called without the GIL). `Ok(false)` when the connection
    /// is gone.
    pub(crate) fn try_send(&self, item: Item) -> Result<bool, Item> {
        {
            let mut state = self.budget.lock();
            if state.closed {
                return Ok(false);
            }
            // An abort marker costs nothing and never waits.
            if state.queued >= HIGH_WATER && item.is_ok() {
                return Err(item);
            }
            state.queued += cost(&item);
        }
        Ok(self.tx.send(item).is_ok())
    }

    /// Queues an item, first waiting until the connection has taken the queue down to its
    /// low-water mark. `false` when the connection is gone.
    pub(crate) fn send_blocking(&self, item: Item) -> bool {
        {
            let mut state = self.budget.lock();
            while state.queued >= HIGH_WATER && item.is_ok() && !state.closed {
                state.waiting = true;
                state = self
                    .budget
                    .room
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if state.closed {
                return false;
            }
            state.queued += cost(&item);
        }
        self.tx.send(item).is_ok()
    }
}

fn cost(item: &Item) -> usize {
    match item {
        Ok(data) => data.len() + CHUNK_OVERHEAD,
        Err(_) => 0,
    }
}

/// The connection's end.
#[derive(Debug)]
pub(crate) struct BodyReceiver {
    rx: mpsc::UnboundedReceiver<Item>,
    budget: Arc<Budget>,
    /// Bytes taken but not yet given back to the budget.
    taken: usize,
}

impl std::fmt::Debug for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Budget").finish_non_exhaustive()
    }
}

impl BodyReceiver {
    /// The next item; gives taken bytes back when the queue runs dry or a batch has gathered.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        let polled = self.rx.poll_recv(cx);
        match &polled {
            Poll::Ready(Some(Ok(data))) => {
                self.taken += data.len() + CHUNK_OVERHEAD;
                if self.taken >= HIGH_WATER - LOW_WATER {
                    self.give_back();
                }
            }
            Poll::Pending => self.give_back(),
            Poll::Ready(_) => {}
        }
        polled
    }

    fn give_back(&mut self) {
        if self.taken > 0 {
            self.budget.give_back(std::mem::take(&mut self.taken));
        }
    }

    /// Takes no more items; a sender waiting for room is released.
    pub(crate) fn close(&mut self) {
        self.rx.close();
        self.budget.close();
    }
}

impl Drop for BodyReceiver {
    fn drop(&mut self) {
        self.budget.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fast_sender_queues_up_to_the_high_water_mark_without_waiting() {
        let (tx, mut rx) = channel();
        let chunk = Bytes::from(vec![b'x'; 1024]);
        let fits = HIGH_WATER / (1024 + CHUNK_OVERHEAD);
        for _ in 0..fits {
            assert_eq!(tx.try_send(Ok(chunk.clone())), Ok(true));
        }
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        for _ in 0..fits {
            assert!(matches!(rx.poll_recv(&mut cx), Poll::Ready(Some(Ok(_)))));
        }
        assert!(rx.poll_recv(&mut cx).is_pending());
        assert_eq!(rx.budget.lock().queued, 0);
    }

    #[test]
    fn a_waiting_sender_goes_on_once_the_queue_drains_or_closes() {
        let (tx, mut rx) = channel();
        let big = Bytes::from(vec![b'x'; HIGH_WATER]);
        assert_eq!(tx.try_send(Ok(big.clone())), Ok(true));
        let sender = std::thread::spawn(move || {
            let more = tx.send_blocking(Ok(Bytes::from_static(b"more")));
            // Under the high-water mark again: no wait.
            let big = tx.try_send(Ok(big));
            let last = tx.send_blocking(Ok(Bytes::from_static(b"last")));
            (more, big, last)
        });
        // Wait on an observable event: the sender registered as waiting.
        while !rx.budget.lock().waiting {
            std::thread::yield_now();
        }
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(matches!(rx.poll_recv(&mut cx), Poll::Ready(Some(Ok(_)))));
        // Taking the big chunk gave its bytes back and woke the sender, which queued "more" and
        // the second big chunk, and now waits again with "last".
        while !rx.budget.lock().waiting {
            std::thread::yield_now();
        }
        rx.close();
        assert_eq!(sender.join().unwrap(), (true, Ok(true), false));
    }
}
