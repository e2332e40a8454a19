//! Writes the `datagram` seeds that hold real datagrams: a handshake and a
//! data exchange between the harness's two nodes, and a cookie reply, each as
//! one "send raw bytes" operation (see `ferrotun_fuzz::datagram`).
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --example write_seeds`
//! (from the repository root; overwrites `fuzz/corpus/datagram/real-*`).

use std::net::SocketAddr;
use std::time::Instant;

use ferrotun::node::Node;
use ferrotun_fuzz::datagram::SOURCES;
use ferrotun_fuzz::pair::{Net, Pair, Tun};

/// Opcode of "send raw bytes" to B (0x80 clear) from `SOURCES[source]`.
fn raw_op(to_a: bool, source: u8, bytes: &[u8]) -> Vec<u8> {
    let mut op = vec![(u8::from(to_a) << 7) | (source << 4)];
    op.extend_from_slice(
        &u16::try_from(bytes.len())
            .expect("datagram size")
            .to_le_bytes(),
    );
    op.extend_from_slice(bytes);
    op
}

fn cookie_reply(b: &mut Node, init: &[u8], now: Instant) -> Vec<u8> {
    let attacker: SocketAddr = SOURCES[2];
    for _ in 0..1000 {
        let mut net = Net::default();
        b.handle_datagram(attacker, init, now, &mut net, &mut Tun::default());
        if let Some((_, reply)) = net.sent.into_iter().find(|(_, d)| d[0] == 3) {
            return reply;
        }
    }
    panic!("no cookie reply under a flood of initiations");
}

fn main() -> std::io::Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/datagram");
    std::fs::create_dir_all(&dir)?;
    let now = Instant::now();
    let mut pair = Pair::established(now);
    for (i, (from_a, bytes)) in pair.handshake_transcript.iter().enumerate() {
        let kind = match (bytes[0], bytes.len()) {
            (1, _) => "initiation",
            (2, _) => "response",
            (4, 32) => "keepalive",
            (4, _) => "data",
            _ => "other",
        };
        let name = format!("{kind}-{}", if *from_a { "a-to-b" } else { "b-to-a" });
        // To the node it was meant for, from an attacker's address.
        std::fs::write(
            dir.join(format!("real-{i}-{name}")),
            raw_op(!from_a, 2, bytes),
        )?;
    }
    let init = pair.handshake_transcript[0].1.clone();
    let cookie = cookie_reply(&mut pair.b, &init, now);
    std::fs::write(dir.join("real-cookie-reply"), raw_op(true, 1, &cookie))?;
    Ok(())
}
