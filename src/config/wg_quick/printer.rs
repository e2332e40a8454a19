//! Canonical wg-quick text: the layout `wg showconf` and the WireGuard apps
//! use, so the output reads familiar and diffs cleanly.

use std::fmt::{self, Display, Write as _};

use crate::config::{PeerConfig, TunnelConfig};

/// Prints a config; see [`TunnelConfig::to_wg_quick`].
pub(super) fn print(config: &TunnelConfig) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = write_config(&mut out, config);
    out
}

fn write_config(out: &mut String, config: &TunnelConfig) -> fmt::Result {
    writeln!(out, "[Interface]")?;
    writeln!(out, "PrivateKey = {}", config.private_key.to_base64())?;
    // 0 and `None` both let the OS choose; print neither so the text is canonical.
    if let Some(port) = config.listen_port.filter(|&p| p != 0) {
        writeln!(out, "ListenPort = {port}")?;
    }
    write_list(out, "Address", &config.addresses)?;
    let dns: Vec<&dyn Display> = config
        .dns
        .iter()
        .map(|ip| ip as &dyn Display)
        .chain(config.dns_search.iter().map(|d| d as &dyn Display))
        .collect();
    write_list(out, "DNS", &dns)?;
    if let Some(mtu) = config.mtu {
        writeln!(out, "MTU = {mtu}")?;
    }
    for peer in &config.peers {
        writeln!(out)?;
        write_peer(out, peer)?;
    }
    Ok(())
}

fn write_peer(out: &mut String, peer: &PeerConfig) -> fmt::Result {
    writeln!(out, "[Peer]")?;
    writeln!(out, "PublicKey = {}", peer.public_key.to_base64())?;
    if let Some(psk) = &peer.preshared_key {
        writeln!(out, "PresharedKey = {}", psk.to_base64())?;
    }
    write_list(out, "AllowedIPs", &peer.allowed_ips)?;
    if let Some(endpoint) = &peer.endpoint {
        writeln!(out, "Endpoint = {endpoint}")?;
    }
    if let Some(seconds) = peer.persistent_keepalive.filter(|&s| s != 0) {
        writeln!(out, "PersistentKeepalive = {seconds}")?;
    }
    Ok(())
}

/// `Key = a, b, c`, or nothing for an empty list.
fn write_list<T: Display>(out: &mut String, key: &str, items: &[T]) -> fmt::Result {
    let Some((first, rest)) = items.split_first() else {
        return Ok(());
    };
    write!(out, "{key} = {first}")?;
    for item in rest {
        write!(out, ", {item}")?;
    }
    writeln!(out)
}
