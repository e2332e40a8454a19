//! When the event loop's one tokio sleep is armed for the node's timers.
//!
//! Moving a tokio sleep to an earlier deadline wakes the runtime's driver
//! (an eventfd write and one more `epoll_wait`), even from the loop's own
//! thread just before it parks. The node's deadline moves earlier and back
//! with every packet (a received packet not yet answered brings the passive
//! keepalive forward; the answer takes it back), so re-arming to the exact
//! deadline costs two syscalls per packet at idle. Waking early is harmless
//! (a spurious `handle_timeout` does nothing), so the sleep only ever moves
//! earlier, and after it fired, to the node's deadline then: at most one
//! early wake per armed deadline, and none per packet.

use std::time::Instant;

/// See the module docs.
#[derive(Debug, Default)]
pub(super) struct Timer {
    /// What the sleep is set to, while it has not fired.
    armed: Option<Instant>,
    /// The node's deadline as last seen.
    wanted: Option<Instant>,
}

impl Timer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Notes the node's `deadline`; whether the node's timers should run
    /// now (its deadline or the armed one has passed; the latter disarms).
    pub fn due(&mut self, deadline: Option<Instant>, now: Instant) -> bool {
        self.wanted = deadline;
        if self.armed.is_some_and(|at| at <= now) {
            self.armed = None;
            return true;
        }
        deadline.is_some_and(|at| at <= now)
    }

    /// The time to set the sleep to, when it must change: only ever
    /// earlier than what is armed.
    pub fn rearm(&mut self) -> Option<Instant> {
        let wanted = self.wanted?;
        if self.armed.is_some_and(|at| at <= wanted) {
            return None;
        }
        self.armed = Some(wanted);
        self.armed
    }

    /// What the sleep is set to; `None`: do not poll it.
    pub fn armed(&self) -> Option<Instant> {
        self.armed
    }

    /// The sleep fired.
    pub fn fired(&mut self) {
        self.armed = None;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_deadline_moving_back_and_forth_arms_the_sleep_once() {
        let t0 = Instant::now();
        let mut timer = Timer::new();
        assert!(!timer.due(Some(t0 + 120 * S), t0));
        assert_eq!(timer.rearm(), Some(t0 + 120 * S));
        // A packet arrives (passive keepalive due in 10 s), then the answer goes out.
        assert!(!timer.due(Some(t0 + 10 * S), t0));
        assert_eq!(timer.rearm(), Some(t0 + 10 * S));
        for i in 1..100u32 {
            let now = t0 + i * Duration::from_millis(50);
            assert!(!timer.due(Some(t0 + 120 * S), now));
            assert_eq!(timer.rearm(), None);
            assert!(!timer.due(Some(now + 10 * S), now));
            assert_eq!(timer.rearm(), None);
        }
        assert_eq!(timer.armed(), Some(t0 + 10 * S));
    }

    #[test]
    fn an_early_wake_runs_the_timers_and_rearms_at_the_deadline() {
        let t0 = Instant::now();
        let mut timer = Timer::new();
        timer.due(Some(t0 + 10 * S), t0);
        timer.rearm();
        // The deadline moved later meanwhile; the sleep wakes at the earlier one.
        assert!(timer.due(Some(t0 + 120 * S), t0 + 10 * S));
        assert_eq!(timer.armed(), None);
        assert!(!timer.due(Some(t0 + 120 * S), t0 + 10 * S));
        assert_eq!(timer.rearm(), Some(t0 + 120 * S));
    }

    #[test]
    fn a_fired_sleep_is_not_polled_until_rearmed() {
        let t0 = Instant::now();
        let mut timer = Timer::new();
        timer.due(Some(t0 + S), t0);
        timer.rearm();
        timer.fired();
        assert_eq!(timer.armed(), None);
        assert!(!timer.due(None, t0 + S));
        assert_eq!(timer.rearm(), None);
        assert_eq!(timer.armed(), None);
    }

    #[test]
    fn a_due_deadline_runs_now() {
        let t0 = Instant::now();
        let mut timer = Timer::new();
        assert!(timer.due(Some(t0), t0));
    }
}
