//! When a peer's boringtun `Tunn` next needs `update_timers`.
//!
//! boringtun keeps its WireGuard timers private and expects to be ticked
//! every few hundred milliseconds. Ticking that often would wake an idle phone
//! four times a second, so instead we shadow the events its timers depend on
//! (what was sent and received, and when) and compute the earliest moment any
//! of its timer rules could fire. Waking at that moment (plus a little slack
//! for processing delay) is never earlier than needed by more than the slack,
//! and never later than boringtun would act on its own 250 ms tick.
//!
//! The constants mirror boringtun's `noise/timers.rs` (the WireGuard paper's
//! values); the tests check their relations.

use std::time::{Duration, Instant};

/// Retransmit a handshake initiation after this long without a response.
pub const REKEY_TIMEOUT: Duration = Duration::from_secs(5);
/// Initiator starts a new handshake when a session is this old and data is sent.
pub const REKEY_AFTER_TIME: Duration = Duration::from_secs(120);
/// Sessions older than this are unusable.
pub const REJECT_AFTER_TIME: Duration = Duration::from_secs(180);
/// Send a keepalive if data was received but nothing sent for this long.
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// Initiator rekeys on receive once the session is this old.
pub const REKEY_ON_RECEIVE: Duration = Duration::from_secs(180 - 10 - 5);
/// Everything is wiped when no session was established for this long.
pub const CONNECTION_EXPIRY: Duration = Duration::from_secs(3 * 180);
/// Added to every deadline: boringtun stamps events a little after we see them,
/// and must find its timer due when we wake.
pub const TIMER_SLACK: Duration = Duration::from_millis(50);
/// Before touching a peer's `Tunn` on traffic, refresh its timers if they are
/// older than this (boringtun stamps events with the time of its last tick).
pub const TICK_WHILE_ACTIVE: Duration = Duration::from_millis(250);

/// The events boringtun's timers depend on, as seen by the node.
#[derive(Debug, Clone, Default)]
pub struct TimerShadow {
    /// Last `update_timers` call.
    pub last_tick: Option<Instant>,
    /// Last handshake initiation sent, while no session answered it.
    pub handshake_sent: Option<Instant>,
    /// When the newest session was established.
    pub session_established: Option<Instant>,
    /// Last authenticated packet sent / received (any kind).
    pub last_sent: Option<Instant>,
    /// See `last_sent`.
    pub last_received: Option<Instant>,
    /// Last data packet (not keepalive) sent / received.
    pub last_data_sent: Option<Instant>,
    /// See `last_data_sent`.
    pub last_data_received: Option<Instant>,
    /// Persistent keepalive interval.
    pub persistent_keepalive: Option<Duration>,
    /// Set when the peer should send its first keepalive (and so a handshake) now.
    pub kick: Option<Instant>,
}

impl TimerShadow {
    /// Forgets session state after boringtun expired the connection.
    pub fn connection_expired(&mut self) {
        self.handshake_sent = None;
        self.session_established = None;
        self.last_data_sent = None;
        self.last_data_received = None;
    }

    /// Whether the peer's timers should be refreshed before handling traffic at `now`.
    pub fn is_stale(&self, now: Instant) -> bool {
        self.last_tick
            .is_none_or(|t| now.saturating_duration_since(t) >= TICK_WHILE_ACTIVE)
    }

    /// The earliest time boringtun may want `update_timers`, and why; `None`
    /// when nothing can fire (an idle peer with no session costs no wakeups).
    pub fn next_deadline(&self) -> Option<(Instant, &'static str)> {
        let mut best: Option<(Instant, &'static str)> = None;
        let mut consider = |at: Option<Instant>, why: &'static str| {
            let Some(at) = at else { return };
            let at = at + TIMER_SLACK;
            // A deadline at or before the last tick was already looked at.
            if self.last_tick.is_some_and(|t| at <= t) {
                return;
            }
            if best.is_none_or(|(b, _)| at < b) {
                best = Some((at, why));
            }
        };

        consider(self.kick, "first keepalive");
        consider(
            self.handshake_sent.map(|t| t + REKEY_TIMEOUT),
            "handshake retransmit",
        );
        if let Some(s) = self.session_established {
            consider(Some(s + REKEY_AFTER_TIME), "rekey after time");
            consider(Some(s + REKEY_ON_RECEIVE), "rekey on receive");
            consider(Some(s + REJECT_AFTER_TIME), "session expiry");
            consider(Some(s + CONNECTION_EXPIRY), "connection expiry");
        }
        // boringtun checks these two on its next tick once the packet is in,
        // measuring from our last send (receive): after a long silence that
        // is at once, not a full timeout after the packet.
        if let Some(received) = self.last_data_received
            && self.last_sent.is_none_or(|s| received > s)
        {
            let from = self.last_sent.unwrap_or(received);
            consider(
                Some((from + KEEPALIVE_TIMEOUT).max(received)),
                "passive keepalive",
            );
        }
        if let Some(sent) = self.last_data_sent
            && self.last_received.is_none_or(|r| sent > r)
        {
            let from = self.last_received.unwrap_or(sent);
            consider(
                Some((from + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT).max(sent)),
                "handshake after silence",
            );
        }
        if let (Some(interval), Some(tick)) = (self.persistent_keepalive, self.last_tick) {
            consider(Some(tick + interval), "persistent keepalive");
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_keep_their_protocol_relations() {
        assert!(KEEPALIVE_TIMEOUT + REKEY_TIMEOUT < REKEY_AFTER_TIME);
        assert!(REKEY_AFTER_TIME < REKEY_ON_RECEIVE);
        assert!(REKEY_ON_RECEIVE < REJECT_AFTER_TIME);
        assert!(REJECT_AFTER_TIME < CONNECTION_EXPIRY);
        assert!(TIMER_SLACK < TICK_WHILE_ACTIVE);
        assert!(TICK_WHILE_ACTIVE <= Duration::from_secs(1));
    }

    #[test]
    fn an_idle_peer_without_session_has_no_deadline() {
        let shadow = TimerShadow {
            last_tick: Some(Instant::now()),
            ..Default::default()
        };
        assert_eq!(shadow.next_deadline(), None);
    }

    #[test]
    fn a_pending_handshake_is_retransmitted_after_rekey_timeout() {
        let t0 = Instant::now();
        let shadow = TimerShadow {
            last_tick: Some(t0),
            handshake_sent: Some(t0),
            last_sent: Some(t0),
            ..Default::default()
        };
        assert_eq!(
            shadow.next_deadline(),
            Some((t0 + REKEY_TIMEOUT + TIMER_SLACK, "handshake retransmit"))
        );
    }

    #[test]
    fn received_data_without_reply_schedules_a_passive_keepalive() {
        let t0 = Instant::now();
        let shadow = TimerShadow {
            last_tick: Some(t0 + Duration::from_secs(3)),
            session_established: Some(t0),
            last_sent: Some(t0 + Duration::from_secs(1)),
            last_received: Some(t0 + Duration::from_secs(3)),
            last_data_received: Some(t0 + Duration::from_secs(3)),
            ..Default::default()
        };
        assert_eq!(
            shadow.next_deadline(),
            Some((
                t0 + Duration::from_secs(11) + TIMER_SLACK,
                "passive keepalive"
            ))
        );
    }

    #[test]
    fn data_after_a_long_silence_is_answered_at_the_next_wakeup() {
        let t0 = Instant::now();
        let at = t0 + Duration::from_secs(60);
        let received = TimerShadow {
            last_tick: Some(at),
            session_established: Some(t0),
            last_sent: Some(t0),
            last_received: Some(at),
            last_data_received: Some(at),
            ..Default::default()
        };
        assert_eq!(
            received.next_deadline(),
            Some((at + TIMER_SLACK, "passive keepalive"))
        );
        let sent = TimerShadow {
            last_received: Some(t0),
            last_data_received: None,
            last_sent: Some(at),
            last_data_sent: Some(at),
            ..received
        };
        assert_eq!(
            sent.next_deadline(),
            Some((at + TIMER_SLACK, "handshake after silence"))
        );
    }

    #[test]
    fn an_established_idle_session_wakes_only_for_rekey_and_expiry() {
        let t0 = Instant::now();
        let mut shadow = TimerShadow {
            last_tick: Some(t0),
            session_established: Some(t0),
            last_sent: Some(t0),
            last_received: Some(t0),
            ..Default::default()
        };
        let mut wakeups = Vec::new();
        while let Some((at, why)) = shadow.next_deadline() {
            wakeups.push(why);
            shadow.last_tick = Some(at);
        }
        assert_eq!(
            wakeups,
            vec![
                "rekey after time",
                "rekey on receive",
                "session expiry",
                "connection expiry"
            ]
        );
    }

    #[test]
    fn persistent_keepalive_follows_the_last_tick() {
        let t0 = Instant::now();
        let shadow = TimerShadow {
            last_tick: Some(t0),
            persistent_keepalive: Some(Duration::from_secs(25)),
            ..Default::default()
        };
        assert_eq!(
            shadow.next_deadline(),
            Some((
                t0 + Duration::from_secs(25) + TIMER_SLACK,
                "persistent keepalive"
            ))
        );
    }

    #[test]
    fn deadlines_already_ticked_are_not_repeated() {
        let t0 = Instant::now();
        let shadow = TimerShadow {
            last_tick: Some(t0 + Duration::from_secs(20)),
            handshake_sent: Some(t0),
            ..Default::default()
        };
        assert_eq!(shadow.next_deadline(), None);
    }
}
