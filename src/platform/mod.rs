//! Operating-system specifics kept out of the core.

#[cfg(target_os = "linux")]
pub mod linux_tun;
