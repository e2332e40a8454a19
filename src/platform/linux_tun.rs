//! Linux TUN devices for the CLI: create one (`IFF_TUN|IFF_NO_PI`) and set it
//! up the way `wg-quick up` does, with iproute2.
#![allow(unsafe_code)] // the TUNSETIFF and TUNGETIFF ioctls; see SAFETY notes

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::process::Command;

use crate::config::TunnelConfig;

/// Longest interface name Linux accepts (IFNAMSIZ less the NUL).
pub const MAX_NAME_LEN: usize = 15;

/// Why a TUN device could not be created or configured.
#[derive(Debug, thiserror::Error)]
pub enum TunError {
    /// The name is empty, too long, or has characters Linux rejects.
    #[error("invalid interface name {0:?}: 1 to 15 characters, no '/', ':' or whitespace")]
    BadName(String),
    /// Not allowed to create the device.
    #[error("creating a TUN device needs root or CAP_NET_ADMIN ({0})")]
    Permission(io::Error),
    /// `/dev/net/tun` is missing.
    #[error("/dev/net/tun is not available ({0}); load the tun module")]
    NoTunDevice(io::Error),
    /// Another OS failure.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        source: io::Error,
    },
    /// An `ip` command failed.
    #[error("`{command}` failed: {stderr}")]
    Ip {
        /// The command line.
        command: String,
        /// What it printed.
        stderr: String,
    },
}

/// Checks an interface name the way the kernel will.
///
/// # Errors
/// [`TunError::BadName`].
pub fn check_name(name: &str) -> Result<(), TunError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(TunError::BadName(name.to_owned()))
    }
}

/// Creates a TUN device named `name` and returns its fd and the name the
/// kernel gave it.
///
/// # Errors
/// Permission, a missing `/dev/net/tun`, or a bad name.
pub fn create(name: &str) -> Result<(OwnedFd, String), TunError> {
    attach(name, false)
}

/// Creates a multi-queue TUN device (`IFF_MULTI_QUEUE`), or attaches one
/// more queue to an existing one: every fd attached to it carries the same
/// interface, so a new fd can replace the old one while traffic flows (what
/// Android does when it re-establishes a VPN interface).
///
/// # Errors
/// As [`create`]; `EINVAL` when `name` exists without multi-queue.
pub fn open_queue(name: &str) -> Result<(OwnedFd, String), TunError> {
    attach(name, true)
}

/// The name and whether it is multi-queue, of the TUN device behind `fd`.
///
/// # Errors
/// When `fd` is not an attached TUN fd.
pub fn device_of(fd: BorrowedFd<'_>) -> io::Result<(String, bool)> {
    // SAFETY: `ifreq` is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    // SAFETY: TUNGETIFF writes one `ifreq`, which lives for the call.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNGETIFF, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel wrote a NUL-terminated name into `ifr_name`.
    let name = unsafe { CStr::from_ptr(req.ifr_name.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    // SAFETY: TUNGETIFF filled the flags member of the union.
    let flags = libc::c_int::from(unsafe { req.ifr_ifru.ifru_flags });
    Ok((name, flags & libc::IFF_MULTI_QUEUE != 0))
}

fn attach(name: &str, multi_queue: bool) -> Result<(OwnedFd, String), TunError> {
    check_name(name)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .map_err(|e| match e.kind() {
            io::ErrorKind::PermissionDenied => TunError::Permission(e),
            _ => TunError::NoTunDevice(e),
        })?;
    let fd = OwnedFd::from(file);

    // SAFETY: `ifreq` is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    let queue_flag = if multi_queue {
        libc::IFF_MULTI_QUEUE
    } else {
        0
    };
    req.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI | queue_flag) as libc::c_short;
    // SAFETY: TUNSETIFF reads and writes one `ifreq`, which lives for the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut req) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => TunError::Permission(e),
            _ => TunError::Io {
                context: format!("creating TUN device {name}"),
                source: e,
            },
        });
    }
    // SAFETY: the kernel wrote a NUL-terminated name into `ifr_name`.
    let actual = unsafe { CStr::from_ptr(req.ifr_name.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    Ok((fd, actual))
}

fn ip(args: &[&str]) -> Result<(), TunError> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|source| TunError::Io {
            context: "running `ip` (is iproute2 installed?)".into(),
            source,
        })?;
    if output.status.success() {
        return Ok(());
    }
    Err(TunError::Ip {
        command: format!("ip {}", args.join(" ")),
        stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
    })
}

/// Assigns the config's addresses and MTU, brings the link up, and routes
/// each peer's allowed IPs to it (except default routes, which need policy
/// routing that is left to the user).
///
/// # Errors
/// The first `ip` command that fails.
pub fn configure(name: &str, config: &TunnelConfig) -> Result<(), TunError> {
    for address in config.addresses() {
        ip(&["address", "add", &address.to_string(), "dev", name])?;
    }
    ip(&[
        "link",
        "set",
        "dev",
        name,
        "mtu",
        &config.effective_mtu().to_string(),
        "up",
    ])?;
    for net in config.peers().iter().flat_map(|p| &p.allowed_ips) {
        if net.prefix_len() == 0 {
            tracing::warn!(%net, "not installing a default route; set up policy routing yourself");
            continue;
        }
        let net = net.trunc();
        if config.addresses().iter().any(|a| a.trunc() == net) {
            continue; // the address already gave us this connected route
        }
        // `add`, not `replace`: a route another interface holds (say a
        // running tunnel's) is an error here, never taken over.
        ip(&["route", "add", &net.to_string(), "dev", name])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_follow_the_kernels_rules() {
        assert!(check_name("wg0").is_ok());
        assert!(check_name("ferrotun-test15").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a-name-that-is-too-long").is_err());
        assert!(check_name("bad/name").is_err());
        assert!(check_name("bad name").is_err());
    }
}
