import Darwin
import Ferrotun
import FerrotunAdapterCore
import Foundation

// The core's functions behind the adapter's `TunnelEngine`: copies between
// the generated records and FerrotunAdapterCore's plain values, and the utun
// lookup. No decisions are made here.

/// Resolution, settings and start through the generated bindings.
struct FerrotunEngine: TunnelEngine {
    let config: TunnelConfig
    let options: SettingsOptions

    func prepare() throws -> Preparation<TunnelConfig> {
        // Before any settings exist: the lookup uses the device's network and
        // resolvers (DNS64 included), never the tunnel being set up. Each peer
        // keeps its host name in `endpoint` and gets `resolvedEndpoint`; the
        // tunnel starts there and resolves again after network changes.
        let resolved = try resolveEndpoints(config: config)
        let settings = try interfaceSettings(config: resolved, options: options)
        return Preparation(
            config: resolved,
            interface: InterfaceSpec(settings),
            tunnelRemoteAddress: NetworkSettingsPlan.tunnelRemoteAddress(
                endpoints: resolved.peers.compactMap { $0.resolvedEndpoint ?? $0.endpoint }
            )
        )
    }

    func start(_ config: TunnelConfig) throws -> FerrotunRunning {
        guard let utun = UtunDescriptor.find() else { throw FerrotunAdapterError.utunNotFound }
        let owned = dup(utun)
        guard owned >= 0 else { throw FerrotunAdapterError.dupFailed(errno: errno) }
        // Tunnel.start owns `owned` from here on and closes it, on failure too;
        // `utun` stays with the system (packetFlow).
        let tunnel = try Tunnel.start(config: config, tunFd: owned, protector: nil, framing: .appleUtun)
        return FerrotunRunning(tunnel: tunnel)
    }
}

/// A started Ferrotun `Tunnel`.
struct FerrotunRunning: RunningTunnel {
    let tunnel: Tunnel

    func networkChanged() throws {
        try tunnel.networkChanged()
    }

    func stop() {
        // Only `Internal` can be thrown, and the tunnel is gone either way.
        try? tunnel.stop()
    }

    func nextEvent() async throws -> AdapterEvent? {
        guard let event = try await tunnel.nextEvent() else { return nil }
        return AdapterEvent(event)
    }
}

extension AdapterEvent {
    init(_ event: TunnelEvent) {
        switch event {
        case let .started(listenPort):
            self = .started(listenPort: listenPort)
        case let .handshakeCompleted(publicKey):
            self = .handshakeCompleted(publicKey: publicKey)
        case let .endpointChanged(publicKey, endpoint):
            self = .endpointChanged(publicKey: publicKey, endpoint: endpoint)
        case let .peerUnreachable(publicKey, unansweredFor):
            // A non-negative, finite TimeInterval (a Rust Duration): whole seconds.
            self = .peerUnreachable(publicKey: publicKey, unansweredSeconds: UInt64(unansweredFor))
        case let .peerReachable(publicKey):
            self = .peerReachable(publicKey: publicKey)
        case let .stopped(error):
            self = .stopped(error: error)
        }
    }
}

extension InterfaceSpec {
    init(_ settings: InterfaceSettings) {
        self.init(
            mtu: Int(settings.mtu),
            ipv4: FamilySpec(settings.ipv4),
            ipv6: FamilySpec(settings.ipv6),
            dnsServers: settings.dnsServers,
            dnsSearchDomains: settings.dnsSearchDomains
        )
    }
}

extension FamilySpec {
    init(_ family: FamilySettings) {
        let mode: FamilyModeSpec
        switch family.mode {
        case .routed: mode = .routed
        case .leftToSystem: mode = .leftToSystem
        case .blocked: mode = .blocked
        }
        self.init(
            mode: mode,
            addresses: family.addresses.map { PrefixSpec($0) },
            routes: family.routes.map { PrefixSpec($0) }
        )
    }
}

extension PrefixSpec {
    init(_ prefix: IpPrefix) {
        self.init(address: prefix.address, prefixLength: Int(prefix.prefixLen), subnetMask: prefix.subnetMask)
    }
}

/// Finds the utun socket behind `packetFlow`.
enum UtunDescriptor {
    /// The fd whose interface name (`UTUN_OPT_IFNAME`) starts with "utun".
    /// A packet tunnel extension has exactly one; NE offers no API for it.
    static func find() -> Int32? {
        // From <sys/kern_control.h> and <net/if_utun.h>, which Swift does not import on iOS.
        let sysprotoControl: Int32 = 2
        let utunOptIfname: Int32 = 2
        var name = [CChar](repeating: 0, count: Int(IFNAMSIZ))
        for fd: Int32 in 0...1024 {
            var length = socklen_t(name.count)
            guard getsockopt(fd, sysprotoControl, utunOptIfname, &name, &length) == 0 else { continue }
            let bytes = name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
            if String(decoding: bytes, as: UTF8.self).hasPrefix("utun") {
                return fd
            }
        }
        return nil
    }
}

extension TunnelStats {
    /// The counters as `key=value` lines, one line per peer after the totals.
    var text: String {
        var lines = [
            "ip_packets_in=\(ipPacketsIn)",
            "ip_packets_out=\(ipPacketsOut)",
            "udp_datagrams_sent=\(udpDatagramsSent)",
            "udp_datagrams_received=\(udpDatagramsReceived)",
        ]
        for peer in peers {
            lines.append("peer=\(peer.publicKey) tx_bytes=\(peer.txBytes) rx_bytes=\(peer.rxBytes)")
        }
        return lines.joined(separator: "\n")
    }
}
