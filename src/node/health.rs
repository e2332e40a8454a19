//! Peer reachability: whether a peer answers our handshakes.
//!
//! WireGuard itself never gives up on a peer: it retransmits a handshake
//! initiation every `REKEY_TIMEOUT` (5 s) for `REKEY_ATTEMPT_TIME` (90 s) and
//! starts over on the next packet. An app still wants to say "not reachable"
//! instead of "connected", so the node watches for the first initiation that
//! goes unanswered and reports the peer unreachable once
//! [`PEER_UNREACHABLE_AFTER`] passes without any authenticated packet from
//! it, and reachable again at the next one.

use std::time::{Duration, Instant};

use super::timers::REKEY_TIMEOUT;

/// How long handshakes may go unanswered before a peer counts as unreachable:
/// three `REKEY_TIMEOUT`s, i.e. the initiation and two retransmissions each
/// given their full time. One lost datagram (or a cookie round trip under
/// load) costs a single retransmission, so two unanswered ones are an outage,
/// not noise, and 15 s is still quick enough for the UI.
pub const PEER_UNREACHABLE_AFTER: Duration = Duration::from_secs(3 * REKEY_TIMEOUT.as_secs());

/// One peer's reachability state.
#[derive(Debug, Clone, Default)]
pub struct Health {
    /// The first handshake initiation sent since the peer was last heard from.
    unanswered_since: Option<Instant>,
    /// Whether `PeerUnreachable` was reported for the current outage.
    reported: bool,
}

impl Health {
    /// A handshake initiation went out at `now`.
    pub fn on_handshake_sent(&mut self, now: Instant) {
        self.unanswered_since.get_or_insert(now);
    }

    /// An authenticated packet arrived; returns true when the peer had been
    /// reported unreachable (so it is reachable again).
    pub fn on_authenticated(&mut self) -> bool {
        self.unanswered_since = None;
        std::mem::take(&mut self.reported)
    }

    /// When [`Health::poll_unreachable`] will next report something.
    pub fn deadline(&self) -> Option<Instant> {
        match self.unanswered_since {
            Some(since) if !self.reported => Some(since + PEER_UNREACHABLE_AFTER),
            _ => None,
        }
    }

    /// At or after the deadline, once per outage: how long handshakes have
    /// gone unanswered.
    pub fn poll_unreachable(&mut self, now: Instant) -> Option<Duration> {
        let since = self.unanswered_since?;
        let unanswered_for = now.saturating_duration_since(since);
        if self.reported || unanswered_for < PEER_UNREACHABLE_AFTER {
            return None;
        }
        self.reported = true;
        Some(unanswered_for)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_allows_two_retransmissions() {
        assert_eq!(PEER_UNREACHABLE_AFTER, 3 * REKEY_TIMEOUT);
        assert!(PEER_UNREACHABLE_AFTER < super::super::timers::CONNECTION_EXPIRY);
    }

    #[test]
    fn unanswered_handshakes_report_once_then_recover() {
        let t0 = Instant::now();
        let mut health = Health::default();
        assert_eq!(health.deadline(), None);
        health.on_handshake_sent(t0);
        // Retransmissions do not restart the clock.
        health.on_handshake_sent(t0 + REKEY_TIMEOUT);
        assert_eq!(health.deadline(), Some(t0 + PEER_UNREACHABLE_AFTER));
        assert_eq!(health.poll_unreachable(t0 + Duration::from_secs(14)), None);
        let at = t0 + PEER_UNREACHABLE_AFTER;
        assert_eq!(health.poll_unreachable(at), Some(PEER_UNREACHABLE_AFTER));
        assert_eq!(health.poll_unreachable(at + REKEY_TIMEOUT), None);
        assert_eq!(health.deadline(), None);
        assert!(health.on_authenticated());
        assert!(!health.on_authenticated());
    }

    #[test]
    fn an_answer_before_the_threshold_reports_nothing() {
        let t0 = Instant::now();
        let mut health = Health::default();
        health.on_handshake_sent(t0);
        assert!(!health.on_authenticated());
        assert_eq!(health.poll_unreachable(t0 + PEER_UNREACHABLE_AFTER), None);
        assert_eq!(health.deadline(), None);
    }
}
