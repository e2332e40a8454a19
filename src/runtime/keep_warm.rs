//! Short wakes of the idle loop while traffic is recent.
//!
//! A loop that slept tens of milliseconds answers its next packet slower
//! than one that ran moments before: on the benchmark machine, one empty
//! turn every 40 ms took about a fifth off the idle round trip, with pings
//! 50 or 200 ms apart (README, "Where boringtun-cli's idle lead comes from",
//! "Keeping the loop warm"). An unrelated process waking as often did not
//! help; the loop's own thread has to run. So for [`WINDOW`] after the last packet or datagram,
//! the idle wait ends every [`PERIOD`] for one turn that finds nothing.
//! After that the loop sleeps until a packet, a command or the node's own
//! timer: a quiet tunnel does not wake, and one carrying sparse traffic
//! wakes at most `WINDOW / PERIOD` extra times per burst, while the device
//! is awake for that traffic anyway.

use std::time::{Duration, Instant};

/// How often the idle loop wakes while traffic is recent.
pub(super) const PERIOD: Duration = Duration::from_millis(40);

/// How long after the last packet or datagram the loop keeps waking: what
/// interactive traffic answers within (a call's or a game's next packet, a
/// DNS or TCP reply), not so long that a packet a second keeps it waking.
pub(super) const WINDOW: Duration = Duration::from_millis(500);

/// See the module docs.
#[derive(Debug, Default)]
pub(super) struct KeepWarm {
    /// When the last packet or datagram was handled.
    last_traffic: Option<Instant>,
    /// The next wake, on a fixed grid from the first traffic of a burst
    /// (not from the last packet, so steady traffic does not push it away).
    next_wake: Option<Instant>,
}

impl KeepWarm {
    pub fn new() -> Self {
        Self::default()
    }

    /// A packet or datagram was handled at `now`.
    pub fn traffic(&mut self, now: Instant) {
        self.last_traffic = Some(now);
        if self.next_wake.is_none() {
            self.next_wake = Some(now + PERIOD);
        }
    }

    /// When the idle wait should end at the latest for a turn that keeps
    /// the loop warm; `None`: no traffic within [`WINDOW`], sleep on.
    pub fn deadline(&mut self, now: Instant) -> Option<Instant> {
        let end = self.last_traffic? + WINDOW;
        let next = self
            .next_wake
            .and_then(|next| next_slot(next, now))
            .filter(|&next| next <= end);
        self.next_wake = next;
        if next.is_none() {
            self.last_traffic = None;
        }
        next
    }
}

/// The first slot of the grid through `slot` that is after `now`, in one step
/// however long the loop was busy; `None` if the clock cannot hold it.
fn next_slot(slot: Instant, now: Instant) -> Option<Instant> {
    if slot > now {
        return Some(slot);
    }
    let missed = u32::try_from((now - slot).as_nanos() / PERIOD.as_nanos() + 1).ok()?;
    slot.checked_add(PERIOD.checked_mul(missed)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn without_traffic_the_loop_is_never_woken() {
        let t0 = Instant::now();
        let mut warm = KeepWarm::new();
        assert_eq!(warm.deadline(t0), None);
        assert_eq!(warm.deadline(t0 + 10 * WINDOW), None);
    }

    #[test]
    fn after_a_packet_it_wakes_every_period_until_the_window_ends() {
        let t0 = Instant::now();
        let mut warm = KeepWarm::new();
        warm.traffic(t0);
        let mut now = t0;
        let mut wakes = 0;
        while let Some(at) = warm.deadline(now) {
            assert_eq!(at, t0 + (wakes + 1) * PERIOD, "on the grid");
            assert!(at <= t0 + WINDOW, "never past the window");
            now = at;
            wakes += 1;
        }
        assert_eq!(u128::from(wakes), WINDOW.as_millis() / PERIOD.as_millis());
        assert_eq!(
            warm.deadline(now + WINDOW),
            None,
            "and then it stays asleep"
        );
    }

    #[test]
    fn steady_traffic_keeps_the_grid_instead_of_pushing_the_wake_away() {
        let t0 = Instant::now();
        let mut warm = KeepWarm::new();
        // A packet every 10 ms: the wake still comes every PERIOD.
        for i in 0..10u32 {
            let now = t0 + i * 10 * MS;
            warm.traffic(now);
            assert_eq!(warm.deadline(now), Some(t0 + PERIOD * (i * 10 / 40 + 1)));
        }
    }

    #[test]
    fn a_turn_woken_late_goes_on_to_the_next_slot() {
        let t0 = Instant::now();
        let mut warm = KeepWarm::new();
        warm.traffic(t0);
        // Scheduled late by 1.5 periods: the next wake is the next slot after now.
        let late = t0 + PERIOD + PERIOD / 2;
        assert_eq!(warm.deadline(late), Some(t0 + 2 * PERIOD));
    }

    #[test]
    fn traffic_after_the_window_starts_a_new_burst() {
        let t0 = Instant::now();
        let mut warm = KeepWarm::new();
        warm.traffic(t0);
        let later = t0 + 3 * WINDOW + 7 * MS;
        assert_eq!(warm.deadline(later), None);
        warm.traffic(later);
        assert_eq!(warm.deadline(later), Some(later + PERIOD));
    }

    #[test]
    fn traffic_late_in_the_window_extends_it() {
        let t0 = Instant::now();
        let mut warm = KeepWarm::new();
        warm.traffic(t0);
        let late = t0 + WINDOW - 5 * MS;
        warm.traffic(late);
        let mut now = late;
        let mut last = None;
        while let Some(at) = warm.deadline(now) {
            now = at;
            last = Some(at);
        }
        let last = last.expect("woke after the late packet");
        assert!(
            last > t0 + WINDOW && last <= late + WINDOW,
            "{:?}",
            last - t0
        );
    }
}
