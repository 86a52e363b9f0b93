//! How many clients are logging in at once: from the socket's accept to the answer of the
//! login it carries. WhatsApp punishes login storms, so tests of a connect pacer read the
//! high-water mark here rather than trusting the client's own bookkeeping.

use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Default)]
pub struct LoginGauge {
    in_flight: AtomicUsize,
    peak: AtomicUsize,
}

/// One login in flight; dropping it (on success, failure or timeout) ends it.
pub struct LoginInFlight<'a>(&'a LoginGauge);

impl LoginGauge {
    pub fn enter(&self) -> LoginInFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        LoginInFlight(self)
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// Starts a new high-water mark from what is in flight now.
    pub fn reset_peak(&self) {
        self.peak.store(self.in_flight(), Ordering::SeqCst);
    }
}

impl Drop for LoginInFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_is_the_most_at_once_and_restarts_from_now() {
        let gauge = LoginGauge::default();
        let a = gauge.enter();
        let b = gauge.enter();
        drop(a);
        let _c = gauge.enter();
        assert_eq!((gauge.in_flight(), gauge.peak()), (2, 2));
        drop(b);
        gauge.reset_peak();
        assert_eq!(gauge.peak(), 1);
    }
}
