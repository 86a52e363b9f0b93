//! The connect pacer: how many sessions of this process log in to WhatsApp at once.
//!
//! WhatsApp punishes login storms, and a router restarting with a thousand linked numbers
//! (or a node's worth of session pods coming back) is one. Every login — the first after
//! start and every reconnect of the library's own loop — takes a turn here first: a
//! random jitter, then one of `max_concurrent` slots, held from the dial until the session
//! is connected or the attempt has failed. A session linked before the process started
//! may also wait a stable share of a spread window derived from its id, so pods (one
//! session each, one pacer each) that restart together do not all dial in the same second.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A login that neither connects nor fails within this long gives its slot back anyway
/// (a fresh pairing's first connect waits on the app-state sync, which can take minutes).
const TURN_MAX_HOLD: Duration = Duration::from_secs(60);

/// One process's turns to log in. Cheap to clone: clones share the slots.
#[derive(Clone, Debug)]
pub struct ConnectPacer {
    slots: Arc<Semaphore>,
    max_concurrent: usize,
    jitter: Duration,
    spread: Duration,
}

impl Default for ConnectPacer {
    fn default() -> Self {
        Self::new(8, Duration::from_millis(500), Duration::ZERO)
    }
}

impl ConnectPacer {
    /// `max_concurrent` logins at once (at least one), each after a random wait below
    /// `jitter`; sessions already linked at start first wait their share of `spread`.
    pub fn new(max_concurrent: usize, jitter: Duration, spread: Duration) -> Self {
        let max_concurrent = max_concurrent.max(1);
        Self {
            slots: Arc::new(Semaphore::new(max_concurrent)),
            max_concurrent,
            jitter,
            spread,
        }
    }

    pub fn max_concurrent(&self) -> usize {
        self.max_concurrent
    }

    /// How long the session `id`, linked before this process started, waits before its
    /// first login: the same fraction of the spread window on every restart.
    pub fn start_delay(&self, id: &str) -> Duration {
        if self.spread.is_zero() {
            return Duration::ZERO;
        }
        let digest = Sha256::digest(id.as_bytes());
        let share =
            u64::from_be_bytes(digest[..8].try_into().expect("8 bytes")) as f64 / u64::MAX as f64;
        self.spread.mul_f64(share)
    }

    /// Waits for a turn to log in: a jitter, then a free slot.
    pub async fn turn(&self) -> Turn {
        if !self.jitter.is_zero() {
            let wait = rand::rng().random_range(Duration::ZERO..self.jitter);
            tokio::time::sleep(wait).await;
        }
        let permit = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("the pacer's semaphore is never closed");
        Turn { _slot: permit }
    }
}

/// A slot to log in, given back when dropped.
#[derive(Debug)]
pub struct Turn {
    _slot: OwnedSemaphorePermit,
}

/// The turn one client holds between its dial and the outcome of its login. Each start
/// of a session's client gets its own, closed when that client is stopped, so a client
/// that is shutting down can neither dial again nor give back its successor's turn.
#[derive(Default)]
pub struct LoginTurn {
    held: Mutex<Option<(u64, Turn)>>,
    generation: std::sync::atomic::AtomicU64,
    closed: std::sync::atomic::AtomicBool,
}

impl LoginTurn {
    pub fn is_held(&self) -> bool {
        self.lock().is_some()
    }

    /// The client was stopped: its turn goes back and it takes no other.
    pub fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        self.release();
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Keeps `turn` until [`Self::release`], or [`TURN_MAX_HOLD`] at most.
    pub fn hold(self: &Arc<Self>, turn: Turn) {
        if self.is_closed() {
            return;
        }
        let generation = self
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        *self.lock() = Some((generation, turn));
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep(TURN_MAX_HOLD).await;
            if let Some(me) = me.upgrade() {
                let mut held = me.lock();
                if held.as_ref().is_some_and(|(g, _)| *g == generation) {
                    tracing::debug!("login took longer than {TURN_MAX_HOLD:?}; its turn ends");
                    *held = None;
                }
            }
        });
    }

    /// The login is over (connected, failed, or waiting for a person to scan a QR).
    pub fn release(&self) {
        self.lock().take();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(u64, Turn)>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn no_more_turns_than_slots_until_one_is_released() {
        let pacer = ConnectPacer::new(2, Duration::ZERO, Duration::ZERO);
        let (a, b) = (
            Arc::new(LoginTurn::default()),
            Arc::new(LoginTurn::default()),
        );
        a.hold(pacer.turn().await);
        b.hold(pacer.turn().await);
        let third = tokio::time::timeout(Duration::from_millis(50), pacer.turn()).await;
        assert!(third.is_err(), "a third login started with two slots");
        a.release();
        let third = tokio::time::timeout(Duration::from_millis(50), pacer.turn()).await;
        assert!(
            third.is_ok(),
            "a released slot was not given to the next login"
        );
        assert!(b.is_held() && !a.is_held());
        b.close();
        b.hold(pacer.turn().await);
        assert!(!b.is_held(), "a stopped client kept a turn");
    }

    #[tokio::test(start_paused = true)]
    async fn a_turn_held_too_long_is_given_back() {
        let pacer = ConnectPacer::new(1, Duration::ZERO, Duration::ZERO);
        let stuck = Arc::new(LoginTurn::default());
        stuck.hold(pacer.turn().await);
        tokio::time::sleep(TURN_MAX_HOLD + Duration::from_secs(1)).await;
        assert!(!stuck.is_held());
        tokio::time::timeout(Duration::from_millis(1), pacer.turn())
            .await
            .expect("the slot came back");
    }

    #[test]
    fn start_delays_are_stable_and_spread_over_the_window() {
        let pacer = ConnectPacer::new(8, Duration::ZERO, Duration::from_secs(20));
        assert_eq!(pacer.start_delay("sales"), pacer.start_delay("sales"));
        let delays: Vec<_> = (0..200)
            .map(|n| pacer.start_delay(&format!("desk-{n}")))
            .collect();
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(20)));
        let early = delays
            .iter()
            .filter(|d| **d < Duration::from_secs(10))
            .count();
        assert!(
            (60..140).contains(&early),
            "{early} of 200 in the first half"
        );
        assert_eq!(ConnectPacer::default().start_delay("sales"), Duration::ZERO);
    }
}
