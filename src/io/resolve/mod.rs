//! Endpoint resolution: host names (and IPv4 literals) to socket addresses
//! through the system resolver, with bounded retries.
//!
//! A step of its own: apps resolve before they establish the VPN (a lookup
//! from inside a VPN that is not yet carrying traffic goes nowhere), and the
//! running tunnel resolves again in the background after a network change or
//! when a peer stops answering. Nothing on the packet path or in
//! `Tunnel::start` waits for DNS.
//!
//! IPv4 literals go through the resolver too: on an IPv6-only network with
//! NAT64, Apple's `getaddrinfo` answers with the synthesized IPv6 address.
//! IPv6 literals are used as they are.

mod system;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

pub use system::SystemResolver;

use crate::config::{Endpoint, PublicKey, TunnelConfig};

/// Looks up the addresses of `host:port`. The system resolver in production
/// ([`SystemResolver`]); tests substitute a fake.
pub trait Resolver: Send + Sync {
    /// Every address for `host` with `port`, best first.
    ///
    /// # Errors
    /// The resolver's failure (unknown name, no network, timeout).
    fn lookup(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>>;
}

/// How often and how patiently to retry a failed lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Lookups in total, at least 1.
    pub attempts: u32,
    /// Wait after the first failure; doubled after each further one.
    pub first_backoff: Duration,
    /// Longest wait between two lookups.
    pub max_backoff: Duration,
}

/// Four lookups over about 3.5 s of waiting (0.5, 1, 2 s): enough to ride
/// out a network that is still coming up, short enough that a config with a
/// wrong name fails while the user is looking at the screen.
pub const DEFAULT_RETRY: RetryPolicy = RetryPolicy {
    attempts: 4,
    first_backoff: Duration::from_millis(500),
    max_backoff: Duration::from_secs(2),
};

impl RetryPolicy {
    /// The waits between attempts, in order (one fewer than `attempts`).
    pub fn backoffs(&self) -> impl Iterator<Item = Duration> + '_ {
        let mut next = self.first_backoff;
        (1..self.attempts.max(1)).map(move |_| {
            let wait = next.min(self.max_backoff);
            next = next.saturating_mul(2);
            wait
        })
    }
}

/// A peer endpoint that could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot resolve endpoint {host} of peer {public_key}: {reason}")]
pub struct ResolveError {
    /// Which peer (public key, base64).
    pub public_key: String,
    /// The endpoint as configured, `host:port`.
    pub host: String,
    /// The resolver's last error.
    pub reason: String,
}

/// Resolves one endpoint once per attempt of `policy`, sleeping with `sleep`
/// between attempts (tests pass a recording no-op).
///
/// A host name is looked up; an IPv4 literal is looked up too (NAT64
/// synthesis) and kept as it is when that fails; an IPv6 literal is returned
/// as it is.
///
/// # Errors
/// The last lookup's error, once every attempt failed or found no address.
pub fn resolve_endpoint(
    resolver: &dyn Resolver,
    endpoint: &Endpoint,
    policy: &RetryPolicy,
    sleep: &mut dyn FnMut(Duration),
) -> io::Result<SocketAddr> {
    let (host, port, literal) = match endpoint {
        Endpoint::Addr(addr @ SocketAddr::V6(_)) => return Ok(*addr),
        Endpoint::Addr(addr @ SocketAddr::V4(v4)) => (v4.ip().to_string(), v4.port(), Some(*addr)),
        Endpoint::Host { host, port } => (host.clone(), *port, None),
    };
    let mut backoffs = policy.backoffs();
    loop {
        let error = match resolver.lookup(&host, port) {
            Ok(addresses) => match addresses.first() {
                Some(addr) => return Ok(*addr),
                None => io::Error::new(io::ErrorKind::NotFound, "no addresses"),
            },
            Err(e) => e,
        };
        if let Some(addr) = literal {
            // A literal needs no DNS; the lookup only adds NAT64 synthesis.
            tracing::debug!(error = %error, "IPv4 literal not synthesized; using it as is");
            return Ok(addr);
        }
        match backoffs.next() {
            Some(wait) => {
                tracing::debug!(error = %error, ?wait, "endpoint lookup failed; retrying");
                sleep(wait);
            }
            None => return Err(error),
        }
    }
}

/// Fills `resolved_endpoint` of every peer that has an endpoint.
///
/// # Errors
/// [`ResolveError`] for the first peer whose endpoint does not resolve,
/// naming its public key and host.
pub fn resolve_config(
    mut config: TunnelConfig,
    resolver: &dyn Resolver,
    policy: &RetryPolicy,
    sleep: &mut dyn FnMut(Duration),
) -> Result<TunnelConfig, ResolveError> {
    for peer in &mut config.peers {
        let Some(endpoint) = &peer.endpoint else {
            continue;
        };
        let addr =
            resolve_endpoint(resolver, endpoint, policy, sleep).map_err(|e| ResolveError {
                public_key: peer.public_key.to_base64(),
                host: endpoint_text(endpoint),
                reason: e.to_string(),
            })?;
        peer.resolved_endpoint = Some(addr);
    }
    Ok(config)
}

/// Peers whose endpoint is a host name (and so may resolve differently after
/// a network change), with that endpoint.
pub fn host_endpoints(config: &TunnelConfig) -> Vec<(PublicKey, Endpoint)> {
    config
        .peers
        .iter()
        .filter_map(|p| match &p.endpoint {
            Some(e @ Endpoint::Host { .. }) => Some((p.public_key, e.clone())),
            Some(Endpoint::Addr(_)) | None => None,
        })
        .collect()
}

fn endpoint_text(endpoint: &Endpoint) -> String {
    match endpoint {
        Endpoint::Addr(addr) => addr.to_string(),
        Endpoint::Host { host, port } => format!("{host}:{port}"),
    }
}
