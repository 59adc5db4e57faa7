//! How many clients `chimera serve` handles at once, so its memory stays
//! bounded under load.
//!
//! At most `max_sessions` queries run at a time; up to `max_queue` more
//! connections may wait for a slot (each holds only a socket and a thread,
//! no material and no protocol state). A waiting client that gets no slot
//! within the read timeout is told "the server is busy"; a connection beyond
//! running + waiting is refused at once with the same message, by a single
//! refusing thread with a short queue of its own, and simply closed if even
//! that queue is full (a flood costs a bounded amount of memory).

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The admission state shared by the accept loop and the session threads.
#[derive(Debug)]
pub struct Admission {
    max_sessions: usize,
    max_queue: usize,
    state: Mutex<Counts>,
    freed: Condvar,
}

#[derive(Debug, Default)]
struct Counts {
    running: usize,
    waiting: usize,
}

/// A connection admitted to wait for a slot.
#[derive(Debug)]
pub struct Ticket {
    admission: Arc<Admission>,
    running: bool,
}

impl Admission {
    /// Limits: `max_sessions` running (at least 1), `max_queue` waiting.
    pub fn new(max_sessions: usize, max_queue: usize) -> Arc<Admission> {
        Arc::new(Admission {
            max_sessions: max_sessions.max(1),
            max_queue,
            state: Mutex::new(Counts::default()),
            freed: Condvar::new(),
        })
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Admit a new connection if running + waiting is below the limits.
    pub fn try_enter(self: &Arc<Admission>) -> Option<Ticket> {
        let mut c = self.counts();
        if c.running + c.waiting >= self.max_sessions + self.max_queue {
            return None;
        }
        c.waiting += 1;
        Some(Ticket {
            admission: Arc::clone(self),
            running: false,
        })
    }

    /// The message a refused or timed-out client receives.
    pub fn busy_message(&self) -> String {
        format!(
            "the server is busy: {} sessions running and {} waiting (its --max-sessions and --max-queue); try again later",
            self.max_sessions, self.max_queue
        )
    }
}

impl Ticket {
    /// [`Admission::busy_message`].
    pub fn busy_message(&self) -> String {
        self.admission.busy_message()
    }

    /// Wait up to `patience` for a running slot; `false` if none came.
    pub fn wait_for_slot(&mut self, patience: Duration) -> bool {
        let admission = Arc::clone(&self.admission);
        let deadline = Instant::now() + patience;
        let mut c = admission.counts();
        loop {
            if c.running < admission.max_sessions {
                c.running += 1;
                c.waiting -= 1;
                self.running = true;
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            c = match admission.freed.wait_timeout(c, left) {
                Ok((guard, _)) => guard,
                Err(p) => p.into_inner().0,
            };
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut c = self.admission.counts();
        if self.running {
            c.running -= 1;
        } else {
            c.waiting -= 1;
        }
        drop(c);
        self.admission.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_max_sessions_run_and_max_queue_wait() {
        let a = Admission::new(2, 1);
        let mut t1 = a.try_enter().unwrap();
        let mut t2 = a.try_enter().unwrap();
        let mut t3 = a.try_enter().unwrap();
        assert!(a.try_enter().is_none(), "two running + one waiting is full");
        assert!(t1.wait_for_slot(Duration::ZERO));
        assert!(t2.wait_for_slot(Duration::ZERO));
        assert!(
            !t3.wait_for_slot(Duration::from_millis(20)),
            "no third slot"
        );
        // A finished session frees its slot for the waiting one.
        let waiter = std::thread::spawn(move || {
            let ok = t3.wait_for_slot(Duration::from_secs(5));
            (ok, t3)
        });
        std::thread::sleep(Duration::from_millis(20));
        drop(t1);
        let (ok, t3) = waiter.join().unwrap();
        assert!(ok);
        drop((t2, t3));
        let c = a.counts();
        assert_eq!((c.running, c.waiting), (0, 0));
        drop(c);
        assert!(a.busy_message().contains("2 sessions running"));
    }
}
