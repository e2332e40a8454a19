//! Routes `tracing` to the platform's log: logcat on Android, os_log on Apple
//! platforms, stderr elsewhere.
//!
//! [`init`] installs a global subscriber once (later calls do nothing), and
//! [`set_level`] changes the maximum level at runtime through a reload layer,
//! so an app can turn on debug logging without restarting its tunnel.
//!
//! If the embedding program installed its own global subscriber first (the
//! Linux CLI or a test harness might), Ferrotun leaves it alone: [`init`]
//! reports [`LogInit::Foreign`] and [`set_level`] only records the level.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{Registry, reload};

/// Level used until [`set_level`] is called: warnings and errors only, so a
/// release app logs nothing in steady state.
pub const DEFAULT_LEVEL: LevelFilter = LevelFilter::WARN;

/// Tag (Android) and subsystem (Apple) the log lines carry.
pub const LOG_TAG: &str = "ferrotun";

/// Apple os_log subsystem, in reverse-DNS form as Apple asks.
pub const APPLE_SUBSYSTEM: &str = "dev.ferrotun";

/// What [`init`] found or did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogInit {
    /// Ferrotun's subscriber is installed (now or by an earlier call); levels can be changed.
    Installed,
    /// Another global subscriber was there first; Ferrotun does not control its level.
    Foreign,
}

struct State {
    handle: Option<reload::Handle<LevelFilter, Registry>>,
}

static STATE: OnceLock<State> = OnceLock::new();

/// The level most recently asked for, encoded by [`encode`]; survives a foreign subscriber.
static REQUESTED: AtomicU8 = AtomicU8::new(u8::MAX);

/// Installs the platform log sink as the global `tracing` subscriber, once.
///
/// Safe to call from any thread, any number of times; only the first call
/// does anything.
pub fn init() -> LogInit {
    let state = STATE.get_or_init(|| {
        let initial = decode(REQUESTED.load(Ordering::Relaxed)).unwrap_or(DEFAULT_LEVEL);
        let (filter, handle) = reload::Layer::new(initial);
        let installed = Registry::default()
            .with(filter)
            .with(sink_layer())
            .try_init()
            .is_ok();
        State {
            handle: installed.then_some(handle),
        }
    });
    if state.handle.is_some() {
        LogInit::Installed
    } else {
        LogInit::Foreign
    }
}

/// Sets the maximum level that reaches the platform log, installing the
/// sink first if needed.
///
/// Returns what [`init`] returned: with [`LogInit::Foreign`] the level is
/// remembered but the foreign subscriber decides what is printed.
pub fn set_level(level: LevelFilter) -> LogInit {
    REQUESTED.store(encode(level), Ordering::Relaxed);
    let result = init();
    if let Some(handle) = STATE.get().and_then(|state| state.handle.as_ref()) {
        // Fails only when the subscriber was dropped, which a global one never is.
        let _ = handle.reload(level);
    }
    result
}

/// The level in force for Ferrotun's own subscriber (or the last one asked for).
pub fn level() -> LevelFilter {
    decode(REQUESTED.load(Ordering::Relaxed)).unwrap_or(DEFAULT_LEVEL)
}

fn encode(level: LevelFilter) -> u8 {
    match level.into_level() {
        None => 0,
        Some(tracing::Level::ERROR) => 1,
        Some(tracing::Level::WARN) => 2,
        Some(tracing::Level::INFO) => 3,
        Some(tracing::Level::DEBUG) => 4,
        Some(tracing::Level::TRACE) => 5,
    }
}

fn decode(value: u8) -> Option<LevelFilter> {
    Some(match value {
        0 => LevelFilter::OFF,
        1 => LevelFilter::ERROR,
        2 => LevelFilter::WARN,
        3 => LevelFilter::INFO,
        4 => LevelFilter::DEBUG,
        5 => LevelFilter::TRACE,
        _ => return None,
    })
}

#[cfg(target_os = "android")]
fn sink_layer() -> impl tracing_subscriber::Layer<
    tracing_subscriber::layer::Layered<reload::Layer<LevelFilter, Registry>, Registry>,
> {
    // logcat adds its own timestamp, level and tag.
    paranoid_android::layer(LOG_TAG)
        .without_time()
        .with_level(false)
        .with_ansi(false)
}

#[cfg(target_vendor = "apple")]
fn sink_layer() -> tracing_oslog::OsLogger {
    tracing_oslog::OsLogger::new(APPLE_SUBSYSTEM, "tunnel")
}

#[cfg(not(any(target_os = "android", target_vendor = "apple")))]
fn sink_layer() -> impl tracing_subscriber::Layer<
    tracing_subscriber::layer::Layered<reload::Layer<LevelFilter, Registry>, Registry>,
> {
    tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_encoding_round_trips() {
        for level in [
            LevelFilter::OFF,
            LevelFilter::ERROR,
            LevelFilter::WARN,
            LevelFilter::INFO,
            LevelFilter::DEBUG,
            LevelFilter::TRACE,
        ] {
            assert_eq!(decode(encode(level)), Some(level));
        }
        assert_eq!(decode(u8::MAX), None);
    }

    #[test]
    fn init_is_idempotent_and_level_changes_stick() {
        let first = init();
        assert_eq!(init(), first);
        assert_eq!(set_level(LevelFilter::DEBUG), first);
        assert_eq!(level(), LevelFilter::DEBUG);
        set_level(LevelFilter::WARN);
        assert_eq!(level(), LevelFilter::WARN);
    }
}
