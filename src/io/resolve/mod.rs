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
    let literal = endpoint.socket_addr();
    let host = match (literal, endpoint.host_name()) {
        (Some(addr @ SocketAddr::V6(_)), _) => return Ok(addr),
        (Some(addr), _) => addr.ip().to_string(),
        (None, host) => host.map(ToString::to_string).unwrap_or_default(),
    };
    let port = endpoint.port().get();
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
    let endpoints: Vec<(PublicKey, Endpoint)> = config
        .peers()
        .iter()
        .filter_map(|p| Some((p.public_key, p.endpoint.clone()?)))
        .collect();
    for (public_key, endpoint) in endpoints {
        let addr =
            resolve_endpoint(resolver, &endpoint, policy, sleep).map_err(|e| ResolveError {
                public_key: public_key.to_base64(),
                host: endpoint.to_string(),
                reason: e.to_string(),
            })?;
        config.set_resolved_endpoint(&public_key, Some(addr));
    }
    Ok(config)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use super::*;
    use crate::config::{PeerConfig, PrivateKey};

    /// Answers from a script, one entry per lookup (the last one repeats),
    /// and records every lookup.
    pub(crate) struct FakeResolver {
        answers: Mutex<VecDeque<io::Result<Vec<SocketAddr>>>>,
        pub lookups: Mutex<Vec<String>>,
    }

    impl FakeResolver {
        pub(crate) fn new(answers: Vec<io::Result<Vec<SocketAddr>>>) -> Self {
            Self {
                answers: Mutex::new(answers.into()),
                lookups: Mutex::new(Vec::new()),
            }
        }
    }

    fn copy(answer: &io::Result<Vec<SocketAddr>>) -> io::Result<Vec<SocketAddr>> {
        match answer {
            Ok(addrs) => Ok(addrs.clone()),
            Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
        }
    }

    impl Resolver for FakeResolver {
        fn lookup(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
            self.lookups.lock().unwrap().push(format!("{host}:{port}"));
            let mut answers = self.answers.lock().unwrap();
            if answers.len() > 1 {
                answers.pop_front().unwrap()
            } else {
                copy(answers.front().expect("a scripted answer"))
            }
        }
    }

    fn fail(message: &str) -> io::Result<Vec<SocketAddr>> {
        Err(io::Error::new(io::ErrorKind::TimedOut, message.to_owned()))
    }

    fn addrs(list: &[&str]) -> io::Result<Vec<SocketAddr>> {
        Ok(list.iter().map(|a| a.parse().unwrap()).collect())
    }

    fn host(name: &str, port: u16) -> Endpoint {
        format!("{name}:{port}").parse().unwrap()
    }

    fn config_with(endpoints: &[Option<Endpoint>]) -> TunnelConfig {
        let peers = endpoints
            .iter()
            .map(|endpoint| PeerConfig {
                endpoint: endpoint.clone(),
                allowed_ips: vec!["10.0.0.0/24".parse().unwrap()],
                ..PeerConfig::new(PrivateKey::generate().public_key())
            })
            .collect();
        TunnelConfig::new(PrivateKey::generate(), peers).unwrap()
    }

    #[test]
    fn retries_back_off_and_then_succeed() {
        let resolver = FakeResolver::new(vec![
            fail("no network yet"),
            fail("no network yet"),
            addrs(&["198.51.100.7:51820", "[2001:db8::7]:51820"]),
        ]);
        let mut waits = Vec::new();
        let addr = resolve_endpoint(
            &resolver,
            &host("vpn.example.com", 51820),
            &DEFAULT_RETRY,
            &mut |d| waits.push(d),
        )
        .unwrap();
        assert_eq!(
            addr,
            "198.51.100.7:51820".parse().unwrap(),
            "the resolver's first answer"
        );
        assert_eq!(waits, [Duration::from_millis(500), Duration::from_secs(1)]);
        assert_eq!(resolver.lookups.lock().unwrap().len(), 3);
    }

    #[test]
    fn retries_are_bounded_and_the_error_names_peer_and_host() {
        let resolver = FakeResolver::new(vec![fail("Temporary failure in name resolution")]);
        let config = config_with(&[None, Some(host("vpn.example.com", 443))]);
        let private = config.private_key().to_base64();
        let peer = config.peers()[1].public_key.to_base64();
        let mut waits = Vec::new();
        let err =
            resolve_config(config, &resolver, &DEFAULT_RETRY, &mut |d| waits.push(d)).unwrap_err();
        assert_eq!(
            resolver.lookups.lock().unwrap().len(),
            4,
            "DEFAULT_RETRY.attempts"
        );
        assert_eq!(
            waits,
            [
                Duration::from_millis(500),
                Duration::from_secs(1),
                Duration::from_secs(2)
            ]
        );
        assert_eq!(err.public_key, peer);
        assert_eq!(err.host, "vpn.example.com:443");
        let text = err.to_string();
        assert!(
            text.contains(&peer) && text.contains("vpn.example.com:443"),
            "{text}"
        );
        assert!(text.contains("Temporary failure"), "{text}");
        assert!(!text.contains(&private), "never the private key");
    }

    #[test]
    fn an_empty_answer_is_a_failure_too() {
        let resolver = FakeResolver::new(vec![addrs(&[])]);
        let policy = RetryPolicy {
            attempts: 2,
            ..DEFAULT_RETRY
        };
        let err = resolve_endpoint(&resolver, &host("empty.example", 1), &policy, &mut |_| {})
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert_eq!(resolver.lookups.lock().unwrap().len(), 2);
    }

    #[test]
    fn dns64_answers_are_used_for_names_and_ipv4_literals() {
        // On an IPv6-only network the system resolver synthesizes 64:ff9b::/96
        // addresses; for an IPv4 literal Apple's getaddrinfo does the same.
        let resolver = FakeResolver::new(vec![addrs(&["[64:ff9b::c633:6407]:51820"])]);
        let config = config_with(&[
            Some(host("v4only.example", 51820)),
            Some("198.51.100.7:51820".parse().unwrap()),
            Some("[2001:db8::1]:51820".parse().unwrap()),
        ]);
        let resolved = resolve_config(config, &resolver, &DEFAULT_RETRY, &mut |_| {
            panic!("no retry")
        })
        .unwrap();
        let synthesized: SocketAddr = "[64:ff9b::c633:6407]:51820".parse().unwrap();
        assert_eq!(resolved.peers()[0].resolved_endpoint, Some(synthesized));
        assert_eq!(resolved.peers()[1].resolved_endpoint, Some(synthesized));
        assert_eq!(
            resolved.peers()[2].resolved_endpoint,
            Some("[2001:db8::1]:51820".parse().unwrap()),
            "IPv6 literals need no lookup"
        );
        assert_eq!(
            *resolver.lookups.lock().unwrap(),
            ["v4only.example:51820", "198.51.100.7:51820"]
        );
        assert_eq!(
            resolved.peers()[0].endpoint,
            Some(host("v4only.example", 51820)),
            "the host name stays for re-resolution"
        );
    }

    #[test]
    fn an_ipv4_literal_is_kept_when_the_lookup_fails() {
        let resolver = FakeResolver::new(vec![fail("EAI_ADDRFAMILY")]);
        let literal = "198.51.100.7:51820".parse().unwrap();
        let addr = resolve_endpoint(&resolver, &literal, &DEFAULT_RETRY, &mut |_| {
            panic!("a literal is never retried")
        })
        .unwrap();
        assert_eq!(addr, "198.51.100.7:51820".parse().unwrap());
    }

    #[test]
    fn backoff_is_capped_and_attempts_at_least_one() {
        let policy = RetryPolicy {
            attempts: 6,
            first_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(2),
        };
        let waits: Vec<_> = policy.backoffs().collect();
        assert_eq!(waits.len(), 5);
        assert_eq!(waits[4], Duration::from_secs(2));
        let none = RetryPolicy {
            attempts: 0,
            ..policy
        };
        assert_eq!(none.backoffs().count(), 0);
    }
}
