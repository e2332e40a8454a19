//! One peer: its boringtun `Tunn`, endpoint, timer shadow and counters.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use boringtun::noise::errors::WireGuardError;
use boringtun::noise::rate_limiter::RateLimiter;
use boringtun::noise::{Tunn, TunnResult};
use boringtun::x25519;

use super::health::Health;
use super::timers::TimerShadow;
use super::{DATA_OVERHEAD, DatagramSink, Event, HANDSHAKE_INIT_LEN};
use crate::config::PeerConfig;

/// WireGuard message types (first byte of every datagram).
pub(super) const MSG_HANDSHAKE_INIT: u8 = 1;
pub(super) const MSG_HANDSHAKE_RESPONSE: u8 = 2;
pub(super) const MSG_DATA: u8 = 4;

/// Counters kept per peer.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Counters {
    pub tx_bytes: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub rx_packets: u64,
}

pub(super) struct Peer {
    pub config: PeerConfig,
    pub tunn: Tunn,
    pub endpoint: Option<SocketAddr>,
    pub timers: TimerShadow,
    pub health: Health,
    pub counters: Counters,
    pub last_handshake: Option<Instant>,
    /// boringtun holds packets queued during a handshake that still need sending.
    pub queue_pending: bool,
}

impl Peer {
    pub fn new(
        config: PeerConfig,
        secret: &x25519::StaticSecret,
        index: u32,
        rate_limiter: Arc<RateLimiter>,
        now: Instant,
    ) -> Self {
        let keepalive = config.persistent_keepalive.map(std::num::NonZeroU16::get);
        let tunn = Tunn::new(
            secret.clone(),
            x25519::PublicKey::from(*config.public_key.as_bytes()),
            config.preshared_key.map(|k| *k.as_bytes()),
            keepalive,
            index,
            Some(rate_limiter),
        );
        // An unresolved host name has no address yet; the runtime resolves it.
        let endpoint = config.initial_endpoint();
        let timers = TimerShadow {
            persistent_keepalive: keepalive.map(|k| Duration::from_secs(k.into())),
            // Like wg-quick: a peer with a keepalive and an endpoint connects at once.
            kick: (keepalive.is_some() && endpoint.is_some()).then_some(now),
            ..Default::default()
        };
        Self {
            config,
            tunn,
            endpoint,
            timers,
            health: Health::default(),
            counters: Counters::default(),
            last_handshake: None,
            queue_pending: false,
        }
    }

    /// Records a datagram this peer's `Tunn` produced and queues it for the endpoint.
    pub fn send(&mut self, net: &mut impl DatagramSink, len: usize, now: Instant) {
        let Some(endpoint) = self.endpoint else {
            return;
        };
        let kind = net.tail()[0];
        self.on_sent(kind, len, now);
        net.commit(endpoint, len);
    }

    fn on_sent(&mut self, kind: u8, len: usize, now: Instant) {
        self.timers.last_sent = Some(now);
        match kind {
            MSG_HANDSHAKE_INIT => {
                self.timers.handshake_sent = Some(now);
                self.health.on_handshake_sent(now);
            }
            MSG_DATA if len > DATA_OVERHEAD => {
                self.timers.last_data_sent = Some(now);
                self.counters.tx_packets += 1;
                self.counters.tx_bytes += (len - DATA_OVERHEAD) as u64;
            }
            _ => {}
        }
    }

    /// Records an authenticated datagram from `from`; queues an event when
    /// the peer is reachable again or its endpoint moved (roaming).
    pub fn on_authenticated(
        &mut self,
        kind: u8,
        from: SocketAddr,
        now: Instant,
        events: &mut VecDeque<Event>,
    ) {
        self.timers.last_received = Some(now);
        if self.health.on_authenticated() {
            tracing::debug!("peer reachable again");
            events.push_back(Event::PeerReachable {
                public_key: self.config.public_key,
            });
        }
        if self.endpoint == Some(from) {
            return;
        }
        self.endpoint = Some(from);
        tracing::debug!(endpoint = %from, kind, "peer endpoint changed");
        events.push_back(Event::EndpointChanged {
            public_key: self.config.public_key,
            endpoint: from,
        });
    }

    pub fn on_handshake_completed(&mut self, now: Instant) -> Event {
        self.timers.session_established = Some(now);
        self.timers.handshake_sent = None;
        self.last_handshake = Some(now);
        Event::HandshakeCompleted {
            public_key: self.config.public_key,
        }
    }

    /// Runs boringtun's timers and sends what they produce.
    pub fn tick(&mut self, net: &mut impl DatagramSink, now: Instant) {
        self.timers.last_tick = Some(now);
        if net.tail().len() < HANDSHAKE_INIT_LEN {
            return;
        }
        if self.timers.kick.take().is_some() {
            if let TunnResult::WriteToNetwork(out) = self.tunn.encapsulate(&[], net.tail()) {
                let len = out.len();
                self.send(net, len, now);
            }
            return;
        }
        match self.tunn.update_timers(net.tail()) {
            TunnResult::WriteToNetwork(out) => {
                let len = out.len();
                self.send(net, len, now);
            }
            TunnResult::Err(WireGuardError::ConnectionExpired) => {
                if self.timers.session_established.is_some() || self.timers.handshake_sent.is_some()
                {
                    tracing::debug!("connection expired");
                }
                self.timers.connection_expired();
            }
            TunnResult::Err(e) => tracing::trace!(error = ?e, "update_timers"),
            _ => {}
        }
    }

    /// Sends packets boringtun queued while a handshake was in flight, as room allows.
    pub fn drain_queue(&mut self, net: &mut impl DatagramSink, max_datagram: usize, now: Instant) {
        while self.queue_pending {
            if net.tail().len() < max_datagram {
                return;
            }
            match self.tunn.decapsulate(None, &[], net.tail()) {
                TunnResult::WriteToNetwork(out) => {
                    let len = out.len();
                    self.send(net, len, now);
                }
                _ => self.queue_pending = false,
            }
        }
    }

    /// Starts a new handshake now (after a network change).
    pub fn force_handshake(&mut self, net: &mut impl DatagramSink, now: Instant) {
        if self.endpoint.is_none() || net.tail().len() < HANDSHAKE_INIT_LEN {
            return;
        }
        if let TunnResult::WriteToNetwork(out) =
            self.tunn.format_handshake_initiation(net.tail(), true)
        {
            let len = out.len();
            self.send(net, len, now);
        }
    }
}
