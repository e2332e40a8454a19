//! A hostile sender for the netns tests: knows only public keys (and what it
//! sees on the wire), sends from a third address on the outer network.
//!
//! It builds WireGuard handshake messages by hand from the protocol's
//! primitives (the crates boringtun uses: BLAKE2s, HMAC-BLAKE2s,
//! ChaCha20-Poly1305, X25519): an initiation that claims someone else's
//! static key passes MAC1 and even reveals that key to the responder, but its
//! timestamp cannot be sealed without the claimed key's private half, so it
//! never authenticates. A response to an index seen on the wire passes MAC1
//! and nothing more. Every flood is bounded in count.
#![allow(dead_code)] // each test uses a subset

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use blake2::digest::{FixedOutput, KeyInit, Mac};
use blake2::{Blake2s256, Blake2sMac, Digest};
use boringtun::x25519::{PublicKey, StaticSecret};
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};

const CONSTRUCTION: &[u8] = b"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
const IDENTIFIER: &[u8] = b"WireGuard v1 zx2c4 Jason@zx2c4.com";
const LABEL_MAC1: &[u8] = b"mac1----";
pub const INIT_LEN: usize = 148;
pub const RESPONSE_LEN: usize = 92;

fn hash(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Blake2s256::new();
    for p in parts {
        Digest::update(&mut h, p);
    }
    h.finalize().into()
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut m =
        <hmac::SimpleHmac<Blake2s256> as KeyInit>::new_from_slice(key).expect("any key length");
    for p in parts {
        Mac::update(&mut m, p);
    }
    m.finalize_fixed().into()
}

/// Noise KDF with two outputs.
fn kdf2(chaining: &[u8; 32], input: &[u8]) -> ([u8; 32], [u8; 32]) {
    let t0 = hmac(chaining, &[input]);
    let t1 = hmac(&t0, &[&[1]]);
    let t2 = hmac(&t0, &[&t1, &[2]]);
    (t1, t2)
}

fn seal(key: &[u8; 32], plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    ChaCha20Poly1305::new(key.into())
        .encrypt(
            Nonce::from_slice(&[0; 12]),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("seal")
}

/// Writes MAC1 (keyed by the receiver's public key) into the message's MAC
/// fields; MAC2 stays zero (the attacker holds no cookie).
fn set_mac1(msg: &mut [u8], receiver: &PublicKey) {
    let key = hash(&[LABEL_MAC1, receiver.as_bytes()]);
    let n = msg.len();
    let mut mac = <Blake2sMac<blake2::digest::consts::U16> as KeyInit>::new_from_slice(&key)
        .expect("32-byte key");
    Mac::update(&mut mac, &msg[..n - 32]);
    let tag: [u8; 16] = mac.finalize_fixed().into();
    msg[n - 32..n - 16].copy_from_slice(&tag);
    msg[n - 16..].fill(0);
}

/// A handshake initiation to `responder` that claims to come from
/// `claimed` (whose private key the attacker does not have).
pub fn forged_initiation(responder: &PublicKey, claimed: &PublicKey, sender_index: u32) -> Vec<u8> {
    let mut msg = vec![0u8; INIT_LEN];
    msg[0] = 1;
    msg[4..8].copy_from_slice(&sender_index.to_le_bytes());
    let chaining = hash(&[CONSTRUCTION]);
    let h = hash(&[&chaining, IDENTIFIER]);
    let h = hash(&[&h, responder.as_bytes()]);
    let ephemeral = StaticSecret::random_from_rng(rand_core::OsRng);
    let e_pub = PublicKey::from(&ephemeral);
    msg[8..40].copy_from_slice(e_pub.as_bytes());
    let (chaining, _) = kdf2(&chaining, e_pub.as_bytes());
    let h = hash(&[&h, e_pub.as_bytes()]);
    let (chaining, key) = kdf2(&chaining, ephemeral.diffie_hellman(responder).as_bytes());
    let sealed_static = seal(&key, claimed.as_bytes(), &h);
    msg[40..88].copy_from_slice(&sealed_static);
    let h = hash(&[&h, &sealed_static]);
    // The next key needs DH(claimed's private key, responder): unknown. Any
    // key will do; the responder's check of this field is what fails.
    let (_, guessed) = kdf2(&chaining, &[0x55; 32]);
    msg[88..116].copy_from_slice(&seal(&guessed, &[0; 12], &h));
    set_mac1(&mut msg, responder);
    msg
}

/// A handshake response to `receiver`'s session `receiver_index`.
pub fn forged_response(receiver: &PublicKey, receiver_index: u32, sender_index: u32) -> Vec<u8> {
    let mut msg = vec![0u8; RESPONSE_LEN];
    msg[0] = 2;
    msg[4..8].copy_from_slice(&sender_index.to_le_bytes());
    msg[8..12].copy_from_slice(&receiver_index.to_le_bytes());
    let junk = StaticSecret::random_from_rng(rand_core::OsRng);
    msg[12..44].copy_from_slice(PublicKey::from(&junk).as_bytes());
    set_mac1(&mut msg, receiver);
    msg
}

/// Runs `f` on a thread inside network namespace `ns` and returns its result.
/// Sockets made there stay in that namespace.
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        #[allow(unsafe_code)] // setns on this thread only; the fd is open for the call
        // SAFETY: `file` is an open namespace fd; setns changes only this thread.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
    .join()
    .expect("netns thread")
}

/// A UDP socket in namespace `ns`, bound to `local` (the third address).
pub fn socket_in(ns: &str, local: SocketAddr) -> UdpSocket {
    in_netns(ns, move || {
        let s = UdpSocket::bind(local).unwrap_or_else(|e| panic!("bind {local}: {e}"));
        s.set_nonblocking(true).unwrap();
        s
    })
}

/// What came back to the attacker's socket, by WireGuard message type.
#[derive(Debug, Default, Clone, Copy)]
pub struct Answers {
    pub cookie_replies: u64,
    /// Handshake messages, data or keepalives: proof that a peer's endpoint
    /// moved to the attacker.
    pub hijacked: u64,
    pub other: u64,
}

impl Answers {
    fn count(&mut self, datagram: &[u8]) {
        match datagram.first() {
            Some(3) => self.cookie_replies += 1,
            Some(1 | 2 | 4) => self.hijacked += 1,
            _ => self.other += 1,
        }
    }
}

/// Sends `make(i)` for i in 0..count in bursts of `burst`, one burst per
/// `period`, and collects what comes back. Bounded by `count`.
pub fn flood(
    socket: &UdpSocket,
    to: SocketAddr,
    count: usize,
    burst: usize,
    period: Duration,
    mut make: impl FnMut(usize) -> Vec<u8>,
) -> Answers {
    let mut answers = Answers::default();
    let mut buf = [0u8; 2048];
    let mut sent = 0;
    while sent < count {
        let start = Instant::now();
        for _ in 0..burst.min(count - sent) {
            let _ = socket.send_to(&make(sent), to);
            sent += 1;
        }
        while let Ok(n) = socket.recv(&mut buf) {
            answers.count(&buf[..n]);
        }
        std::thread::sleep(period.saturating_sub(start.elapsed()));
    }
    answers.add(&drain(socket, Duration::from_millis(500)));
    answers
}

impl Answers {
    pub fn add(&mut self, other: &Answers) {
        self.cookie_replies += other.cookie_replies;
        self.hijacked += other.hijacked;
        self.other += other.other;
    }
}

/// Collects whatever arrives for `wait`.
pub fn drain(socket: &UdpSocket, wait: Duration) -> Answers {
    let mut answers = Answers::default();
    let mut buf = [0u8; 2048];
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        match socket.recv(&mut buf) {
            Ok(n) => answers.count(&buf[..n]),
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    answers
}

/// Watches the outer interface of namespace `ns` for a WireGuard data
/// message to `to` and returns its receiver index (what any on-path observer
/// sees). Bounded by `wait`.
pub fn sniff_receiver_index(ns: &str, to: std::net::SocketAddrV4, wait: Duration) -> Option<u32> {
    in_netns(ns, move || {
        // ETH_P_ALL: only the catch-all tap sees outgoing packets too.
        let proto = (libc::ETH_P_ALL as u16).to_be();
        #[allow(unsafe_code)] // a packet socket: plain syscall, checked below
        // SAFETY: socket() with constant arguments.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM, i32::from(proto)) };
        assert!(
            fd >= 0,
            "AF_PACKET socket: {}",
            std::io::Error::last_os_error()
        );
        #[allow(unsafe_code)]
        // SAFETY: `fd` was just created and is owned here.
        let socket: std::os::fd::OwnedFd = unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) };
        let socket = UdpSocket::from(socket); // only for recv with a timeout
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let deadline = Instant::now() + wait;
        let mut buf = [0u8; 2048];
        while Instant::now() < deadline {
            let Ok(n) = socket.recv(&mut buf) else {
                continue;
            };
            let p = &buf[..n];
            if n < 28 || p[0] >> 4 != 4 || p[9] != 17 {
                continue;
            }
            let ihl = usize::from(p[0] & 0x0f) * 4;
            let udp = &p[ihl..];
            if p[16..20] != to.ip().octets()
                || udp.len() < 8 + 32
                || u16::from_be_bytes([udp[2], udp[3]]) != to.port()
            {
                continue;
            }
            let wg = &udp[8..];
            if wg[0] == 4 {
                return Some(u32::from_le_bytes([wg[4], wg[5], wg[6], wg[7]]));
            }
        }
        None
    })
}
