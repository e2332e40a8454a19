//! Resolving peer host names while the tunnel runs, off the event loop.
//!
//! A lookup can block for seconds (`getaddrinfo` has no cancel), so each one
//! runs on a short-lived thread of its own and posts its answer back to the
//! loop as a [`Command::Resolved`]. At most one lookup per peer is in flight,
//! and each is bounded by the retry policy, so the number of threads is
//! bounded by the number of peers. A request while one is in flight (the
//! network changed again) is remembered and runs once that one finishes. A lookup still running when the tunnel
//! stops finishes on its own and its answer is discarded; `stop` does not
//! wait for it.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use super::control::{Command, CommandSender, WeakCommandSender};
use crate::config::{Endpoint, PublicKey};
use crate::io::resolve::{self, Resolver, RetryPolicy};

/// A finished background lookup.
pub(super) struct Resolved {
    pub public_key: PublicKey,
    /// The endpoint as configured when the lookup started.
    pub endpoint: Endpoint,
    pub result: io::Result<SocketAddr>,
}

pub(super) struct BackgroundResolver {
    resolver: Arc<dyn Resolver>,
    policy: RetryPolicy,
    /// Weak, so lookups alone never keep the command channel open.
    results: WeakCommandSender,
    /// Peers with a lookup running, and whether another was asked for since.
    in_flight: HashMap<PublicKey, bool>,
}

impl BackgroundResolver {
    pub fn new(resolver: Arc<dyn Resolver>, policy: RetryPolicy, results: &CommandSender) -> Self {
        Self {
            resolver,
            policy,
            results: results.downgrade(),
            in_flight: HashMap::new(),
        }
    }

    /// Starts a lookup of `endpoint` for the peer, or, when one is in flight,
    /// asks for another after it.
    pub fn request(&mut self, public_key: PublicKey, endpoint: Endpoint) {
        let Some(results) = self.results.upgrade() else {
            return;
        };
        if let Some(again) = self.in_flight.get_mut(&public_key) {
            *again = true;
            return;
        }
        self.in_flight.insert(public_key, false);
        let resolver = self.resolver.clone();
        let policy = self.policy;
        let spawned = std::thread::Builder::new()
            .name("ferrotun-resolve".into())
            .spawn(move || {
                let result =
                    resolve::resolve_endpoint(&*resolver, &endpoint, &policy, &mut |wait| {
                        std::thread::sleep(wait)
                    });
                let _ = results.send(Command::Resolved(Resolved {
                    public_key,
                    endpoint,
                    result,
                }));
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start an endpoint lookup");
            self.in_flight.remove(&public_key);
        }
    }

    /// Marks the peer's lookup as finished; true when another was asked for
    /// meanwhile (the caller requests it with the current endpoint).
    pub fn finished(&mut self, public_key: &PublicKey) -> bool {
        self.in_flight.remove(public_key).unwrap_or(false)
    }
}
