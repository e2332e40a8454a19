//! Operating-system specifics kept out of the core: logging sinks (logcat,
//! os_log, stderr) and Linux TUN creation.

#[cfg(target_os = "linux")]
pub mod linux_tun;
pub mod log;
