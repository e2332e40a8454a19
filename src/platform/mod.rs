//! OS specifics: logging sinks (logcat, os_log, stderr), Apple utun discovery,
//! Linux TUN creation.

pub mod log;
