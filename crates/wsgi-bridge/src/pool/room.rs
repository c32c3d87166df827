//! Waiting for room in a full queue: mod_wsgi's `connect-timeout`.
//!
//! In mod_wsgi an Apache child that finds the daemon's listen queue full keeps trying to
//! connect for up to the connect timeout, then answers 503. Here the queue is the worker's own,
//! so a request that finds it full waits for a job to leave it instead, for as long.
//!
//! # Why it costs a request nothing while the queue has room
//!
//! The count of waiters lives in the queue, under the lock every push and take already takes;
//! a take wakes a waiter (a [`tokio::sync::Notify`]) only when that count is not zero. A waiter
//! registers with the `Notify` before it lets go of the lock, so a job taken between its look
//! at the queue and its first poll still wakes it. Nothing polls: a waiter sleeps until a job
//! leaves the queue, the pool closes, or its time is up. A waiter woken and then dropped (its
//! client went away) passes the wake-up on, as `Notify` does. Waiters are not served in order
//! of arrival: as in Apache, whoever finds room first takes it.

use std::pin::Pin;

use tokio::sync::futures::Notified;

use super::{Job, JobQueue, NotQueued, Rejected};

impl JobQueue {
    /// Queues `job` once there is room, waiting up to the connect timeout; refuses it with
    /// [`Rejected::QueueFull`] (counted) if there is still none then, or with
    /// [`Rejected::ShuttingDown`] if the pool closes meanwhile.
    pub(crate) async fn push_when_room(&self, mut job: Job) -> Result<(), Rejected> {
        // A deadline too far to represent is no deadline.
        let deadline = tokio::time::Instant::now().checked_add(self.connect_timeout);
        let _waiting = self.enlist();
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            job = match self.push_or_listen(job, room.as_mut()) {
                Ok(()) => return Ok(()),
                Err(NotQueued::Full(job)) => *job,
                Err(NotQueued::ShuttingDown) => return Err(Rejected::ShuttingDown),
            };
            let woken = match deadline {
                Some(deadline) => tokio::time::timeout_at(deadline, room).await.is_ok(),
                None => {
                    room.await;
                    true
                }
            };
            if !woken {
                // One last look: room may have come with the deadline.
                return match self.try_push(job) {
                    Ok(()) => Ok(()),
                    Err(NotQueued::Full(_)) => {
                        self.board.counters().queue_was_full();
                        Err(Rejected::QueueFull)
                    }
                    Err(NotQueued::ShuttingDown) => Err(Rejected::ShuttingDown),
                };
            }
        }
    }

    /// Queues `job` if there is room; if not, registers `room` to be woken by the next job
    /// taken out, before the lock is let go, so that no wake-up falls between the two.
    fn push_or_listen(&self, job: Job, room: Pin<&mut Notified<'_>>) -> Result<(), NotQueued> {
        let queue = self.lock();
        if !queue.closing && queue.jobs.len() >= self.limit {
            room.enable();
            return Err(NotQueued::Full(Box::new(job)));
        }
        self.push_locked(queue, job)
    }

    /// Counts a request among the waiters for room until the guard is dropped (queued,
    /// refused, or its client gone).
    fn enlist(&self) -> Waiting<'_> {
        self.lock().waiting_for_room += 1;
        Waiting(self)
    }

    /// After `taken` jobs left the queue: wakes as many waiters, if `waiters` said there were
    /// any when the queue was looked at.
    pub(super) fn made_room(&self, waiters: bool, taken: usize) {
        if waiters {
            for _ in 0..taken {
                self.room.notify_one();
            }
        }
    }
}

/// One request counted among the waiters for room.
struct Waiting<'a>(&'a JobQueue);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.lock().waiting_for_room -= 1;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::super::tests::job;
    use super::*;

    /// A queue with room for one job, already full.
    fn full_queue(connect_timeout: Duration) -> Arc<JobQueue> {
        let queue = JobQueue::new(
            1,
            1,
            Duration::from_secs(3600),
            oxwsgi_scoreboard::Scoreboard::private(1),
        )
        .with_connect_timeout(connect_timeout);
        queue.push(job()).unwrap();
        Arc::new(queue)
    }

    fn queue_full_count(queue: &JobQueue) -> u64 {
        oxwsgi_scoreboard::Snapshot::read(queue.board.scoreboard()).groups[0].queue_full
    }

    /// Starts a request waiting for room, and returns once it is counted as waiting.
    async fn waiter(queue: &Arc<JobQueue>) -> tokio::task::JoinHandle<Result<(), Rejected>> {
        let waiting = tokio::spawn({
            let queue = Arc::clone(queue);
            async move { queue.push_when_room(job()).await }
        });
        while queue.lock().waiting_for_room == 0 {
            tokio::task::yield_now().await;
        }
        waiting
    }

    #[tokio::test]
    async fn a_job_taken_out_lets_a_waiting_request_in() {
        let queue = full_queue(Duration::from_secs(3600));
        let waiting = waiter(&queue).await;
        assert!(queue.try_take().is_some());
        assert_eq!(waiting.await.unwrap(), Ok(()));
        let state = queue.lock();
        assert_eq!((state.jobs.len(), state.waiting_for_room), (1, 0));
        drop(state);
        assert_eq!(queue_full_count(&queue), 0);
    }

    #[tokio::test]
    async fn a_request_without_room_at_its_deadline_is_refused_and_counted() {
        let queue = full_queue(Duration::from_millis(1));
        let refused = queue.push_when_room(job()).await;
        assert_eq!(refused, Err(Rejected::QueueFull));
        assert_eq!(queue_full_count(&queue), 1);
        assert_eq!(queue.lock().waiting_for_room, 0);
    }

    #[tokio::test]
    async fn closing_the_pool_refuses_the_waiting_requests() {
        let queue = full_queue(Duration::from_secs(3600));
        let waiting = waiter(&queue).await;
        queue.close();
        assert_eq!(waiting.await.unwrap(), Err(Rejected::ShuttingDown));
        assert_eq!(queue_full_count(&queue), 0);
    }

    #[tokio::test]
    async fn a_waiting_request_whose_client_left_is_no_longer_counted() {
        let queue = full_queue(Duration::from_secs(3600));
        let waiting = waiter(&queue).await;
        waiting.abort();
        assert!(waiting.await.unwrap_err().is_cancelled());
        assert_eq!(queue.lock().waiting_for_room, 0);
    }
}
