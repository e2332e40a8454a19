//! The system resolver: `getaddrinfo`, the one path that knows the device's
//! DNS servers, its hosts file and, on IPv6-only networks, DNS64/NAT64
//! (synthesized AAAA answers; on Apple also for IPv4 literals).
#![allow(unsafe_code)] // getaddrinfo/freeaddrinfo through libc; see SAFETY notes

use std::ffi::{CStr, CString};
use std::io;
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};

use super::Resolver;

/// [`Resolver`] backed by the OS's `getaddrinfo`.
///
/// Asks with `AI_ADDRCONFIG`, so a family the device has no address of (IPv4
/// on an IPv6-only network) is not returned, and keeps the resolver's order
/// (RFC 6724 preference), so the first answer is the one to use.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn lookup(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        getaddrinfo(host, port)
    }
}

fn getaddrinfo(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    let c_host = CString::new(host)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "host name contains NUL"))?;
    let c_port = CString::new(port.to_string()).expect("digits contain no NUL");
    // SAFETY: an all-zero addrinfo is the documented "no hints" value; we set
    // only plain integer fields afterwards.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_family = libc::AF_UNSPEC;
    hints.ai_socktype = libc::SOCK_DGRAM;
    hints.ai_protocol = libc::IPPROTO_UDP;
    hints.ai_flags = libc::AI_ADDRCONFIG | libc::AI_NUMERICSERV;
    let mut list: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: both strings are NUL-terminated and outlive the call, `hints` is
    // initialized, and `list` is a valid out-pointer.
    let rc = unsafe { libc::getaddrinfo(c_host.as_ptr(), c_port.as_ptr(), &hints, &mut list) };
    if rc != 0 {
        return Err(gai_error(rc));
    }
    let mut addresses = Vec::new();
    let mut cursor = list;
    while !cursor.is_null() {
        // SAFETY: `cursor` is a node of the list getaddrinfo returned, not yet freed.
        let info = unsafe { &*cursor };
        if let Some(addr) = socket_addr(info) {
            addresses.push(addr);
        }
        cursor = info.ai_next;
    }
    // SAFETY: `list` came from a successful getaddrinfo and is freed exactly once.
    unsafe { libc::freeaddrinfo(list) };
    addresses.dedup();
    Ok(addresses)
}

fn socket_addr(info: &libc::addrinfo) -> Option<SocketAddr> {
    if info.ai_addr.is_null() {
        return None;
    }
    let len = usize::try_from(info.ai_addrlen).ok()?;
    match info.ai_family {
        libc::AF_INET if len >= std::mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family and length say `ai_addr` points at a sockaddr_in;
            // read_unaligned because the resolver promises no alignment.
            let sin = unsafe { std::ptr::read_unaligned(info.ai_addr.cast::<libc::sockaddr_in>()) };
            Some(SocketAddr::V4(SocketAddrV4::new(
                u32::from_be(sin.sin_addr.s_addr).into(),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 if len >= std::mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 =
                unsafe { std::ptr::read_unaligned(info.ai_addr.cast::<libc::sockaddr_in6>()) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                sin6.sin6_addr.s6_addr.into(),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

fn gai_error(rc: libc::c_int) -> io::Error {
    if rc == libc::EAI_SYSTEM {
        return io::Error::last_os_error();
    }
    // SAFETY: gai_strerror returns a pointer to a static NUL-terminated string.
    let message = unsafe { CStr::from_ptr(libc::gai_strerror(rc)) };
    let kind = if rc == libc::EAI_AGAIN {
        io::ErrorKind::TimedOut
    } else {
        io::ErrorKind::NotFound
    };
    io::Error::new(kind, message.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv4_literal_resolves_to_itself_here() {
        // Linux has no NAT64 synthesis in getaddrinfo: the literal comes back
        // unchanged (or the lookup fails and the literal is kept).
        let endpoint: crate::config::Endpoint = "192.0.2.1:51820".parse().unwrap();
        let addr = super::super::resolve_endpoint(
            &SystemResolver,
            &endpoint,
            &super::super::DEFAULT_RETRY,
            &mut |_| panic!("a literal is never retried"),
        )
        .unwrap();
        assert_eq!(addr, "192.0.2.1:51820".parse().unwrap());
    }

    #[test]
    fn unknown_names_fail_with_the_resolvers_message() {
        let err = SystemResolver
            .lookup("no-such-host.invalid", 1)
            .unwrap_err();
        assert!(!err.to_string().is_empty());
    }

    #[test]
    fn nul_in_a_name_is_refused() {
        let err = SystemResolver.lookup("a\0b", 1).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
