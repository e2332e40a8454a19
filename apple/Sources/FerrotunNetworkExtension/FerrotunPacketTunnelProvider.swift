import Ferrotun
import Foundation
import Network
import NetworkExtension

/// Errors of the Network Extension adapter itself (Ferrotun's own are `FerrotunError`).
public enum FerrotunAdapterError: Error, LocalizedError {
    /// `providerConfiguration` has no wg-quick text under `FerrotunPacketTunnelProvider.configKey`.
    case missingConfig
    /// No utun file descriptor was found in this process after applying the settings.
    case utunNotFound
    /// `dup()` of the utun fd failed.
    case dupFailed(errno: Int32)

    public var errorDescription: String? {
        switch self {
        case .missingConfig:
            return "no wg-quick config in providerConfiguration[\"\(FerrotunPacketTunnelProvider.configKey)\"]"
        case .utunNotFound:
            return "the utun file descriptor of this tunnel was not found"
        case let .dupFailed(errno):
            return "dup() of the utun fd failed: errno \(errno)"
        }
    }
}

/// A `NEPacketTunnelProvider` running a Ferrotun tunnel on the extension's utun.
///
/// Subclass it as your extension's principal class. By default it reads
/// wg-quick text from `providerConfiguration["wgQuickConfig"]`; override
/// `tunnelConfig(options:)` to supply the config another way.
///
/// What it does:
/// 1. applies `NEPacketTunnelNetworkSettings` built from the config (addresses,
///    routes from every peer's allowed IPs, DNS, MTU);
/// 2. finds the utun fd behind `packetFlow` and starts the tunnel on a `dup()`
///    of it, with `.appleUtun` framing (`Tunnel` owns and closes the fd it is
///    given; the original stays with the system);
/// 3. calls `networkChanged()` when `NWPathMonitor` reports a different path.
///
/// No `SocketProtector` is needed: sockets opened by a packet tunnel provider
/// are not routed into its own tunnel.
open class FerrotunPacketTunnelProvider: NEPacketTunnelProvider {
    /// Key of the wg-quick text in `NETunnelProviderProtocol.providerConfiguration`.
    public static let configKey = "wgQuickConfig"

    /// The running tunnel, if any.
    public private(set) var tunnel: Tunnel?
    private var pathMonitor: NWPathMonitor?
    private var lastPath: String?
    private var eventTask: Task<Void, Never>?
    private let queue = DispatchQueue(label: "dev.ferrotun.provider")

    /// The config to run. Default: parses `providerConfiguration[configKey]`.
    open func tunnelConfig(options: [String: NSObject]?) throws -> TunnelConfig {
        guard let proto = protocolConfiguration as? NETunnelProviderProtocol,
              let text = proto.providerConfiguration?[Self.configKey] as? String
        else { throw FerrotunAdapterError.missingConfig }
        return try parseWgQuick(text: text)
    }

    /// Called for every tunnel event (started, handshakes, endpoint changes, stopped). Default: nothing.
    open func handle(event: TunnelEvent) {}

    override open func startTunnel(options: [String: NSObject]?, completionHandler: @escaping (Error?) -> Void) {
        let config: TunnelConfig
        do {
            config = try tunnelConfig(options: options)
        } catch {
            completionHandler(error)
            return
        }
        setTunnelNetworkSettings(Self.networkSettings(for: config)) { [weak self] error in
            guard let self else { return }
            if let error {
                completionHandler(error)
                return
            }
            self.queue.async {
                do {
                    try self.start(config: config)
                    completionHandler(nil)
                } catch {
                    completionHandler(error)
                }
            }
        }
    }

    override open func stopTunnel(with reason: NEProviderStopReason, completionHandler: @escaping () -> Void) {
        queue.async {
            self.pathMonitor?.cancel()
            self.pathMonitor = nil
            try? self.tunnel?.stop()
            self.eventTask?.cancel()
            self.tunnel = nil
            completionHandler()
        }
    }

    /// Answers any app message with the current stats as `key=value` lines, or nil when stopped.
    override open func handleAppMessage(_ messageData: Data, completionHandler: ((Data?) -> Void)?) {
        queue.async {
            guard let stats = try? self.tunnel?.stats() else {
                completionHandler?(nil)
                return
            }
            var lines = [
                "ip_packets_in=\(stats.ipPacketsIn)",
                "ip_packets_out=\(stats.ipPacketsOut)",
                "udp_datagrams_sent=\(stats.udpDatagramsSent)",
                "udp_datagrams_received=\(stats.udpDatagramsReceived)",
            ]
            for peer in stats.peers {
                lines.append("peer=\(peer.publicKey) tx_bytes=\(peer.txBytes) rx_bytes=\(peer.rxBytes)")
            }
            completionHandler?(lines.joined(separator: "\n").data(using: .utf8))
        }
    }

    private func start(config: TunnelConfig) throws {
        guard let utun = Self.utunFileDescriptor() else { throw FerrotunAdapterError.utunNotFound }
        let owned = dup(utun)
        guard owned >= 0 else { throw FerrotunAdapterError.dupFailed(errno: errno) }
        // Tunnel.start owns `owned` from here on and closes it, on failure too.
        let tunnel = try Tunnel.start(config: config, tunFd: owned, protector: nil, framing: .appleUtun)
        self.tunnel = tunnel
        eventTask = Task { [weak self] in
            while let event = try? await tunnel.nextEvent() {
                self?.handle(event: event)
            }
        }
        let monitor = NWPathMonitor()
        monitor.pathUpdateHandler = { [weak self] path in self?.pathChanged(path) }
        monitor.start(queue: queue)
        pathMonitor = monitor
    }

    private func pathChanged(_ path: NWPath) {
        guard path.status == .satisfied else { return }
        let description = path.availableInterfaces.map { "\($0.name):\($0.type)" }.joined(separator: ",")
            + (path.isExpensive ? "/expensive" : "")
        defer { lastPath = description }
        // The first update describes the path at start: nothing to rebind.
        guard let lastPath, lastPath != description else { return }
        try? tunnel?.networkChanged()
    }

    /// Builds the interface settings: addresses, a route per allowed IP, DNS and MTU.
    public static func networkSettings(for config: TunnelConfig) -> NEPacketTunnelNetworkSettings {
        let remote = config.peers.compactMap { $0.endpoint }.first.map(hostPart) ?? "127.0.0.1"
        let settings = NEPacketTunnelNetworkSettings(tunnelRemoteAddress: remote)

        var v4Addresses: [String] = [], v4Masks: [String] = []
        var v6Addresses: [String] = [], v6Prefixes: [NSNumber] = []
        for prefix in config.addresses {
            let (ip, length) = split(prefix)
            if ip.contains(":") {
                v6Addresses.append(ip)
                v6Prefixes.append(NSNumber(value: length ?? 128))
            } else {
                v4Addresses.append(ip)
                v4Masks.append(ipv4Mask(length ?? 32))
            }
        }
        var v4Routes: [NEIPv4Route] = [], v6Routes: [NEIPv6Route] = []
        for prefix in Set(config.peers.flatMap { $0.allowedIps }).sorted() {
            let (ip, length) = split(prefix)
            if ip.contains(":") {
                v6Routes.append(NEIPv6Route(destinationAddress: ip, networkPrefixLength: NSNumber(value: length ?? 128)))
            } else {
                v4Routes.append(NEIPv4Route(destinationAddress: ip, subnetMask: ipv4Mask(length ?? 32)))
            }
        }
        if !v4Addresses.isEmpty {
            let v4 = NEIPv4Settings(addresses: v4Addresses, subnetMasks: v4Masks)
            v4.includedRoutes = v4Routes
            settings.ipv4Settings = v4
        }
        if !v6Addresses.isEmpty {
            let v6 = NEIPv6Settings(addresses: v6Addresses, networkPrefixLengths: v6Prefixes)
            v6.includedRoutes = v6Routes
            settings.ipv6Settings = v6
        }
        if !config.dns.isEmpty {
            let dns = NEDNSSettings(servers: config.dns)
            dns.searchDomains = config.dnsSearch
            dns.matchDomains = [""] // all queries go to the tunnel's resolvers
            settings.dnsSettings = dns
        }
        settings.mtu = NSNumber(value: config.mtu ?? 1420)
        return settings
    }

    /// The utun fd that backs `packetFlow`: the socket whose interface name
    /// (`UTUN_OPT_IFNAME`) starts with "utun". A Network Extension has only one.
    public static func utunFileDescriptor() -> Int32? {
        // From <sys/kern_control.h> and <net/if_utun.h>, which Swift does not import on iOS.
        let SYSPROTO_CONTROL: Int32 = 2
        let UTUN_OPT_IFNAME: Int32 = 2
        var name = [CChar](repeating: 0, count: Int(IFNAMSIZ))
        for fd: Int32 in 0...1024 {
            var length = socklen_t(name.count)
            if getsockopt(fd, SYSPROTO_CONTROL, UTUN_OPT_IFNAME, &name, &length) == 0,
               String(cString: name).hasPrefix("utun")
            {
                return fd
            }
        }
        return nil
    }

    private static func split(_ prefix: String) -> (String, Int?) {
        let parts = prefix.split(separator: "/", maxSplits: 1).map(String.init)
        return (parts[0], parts.count > 1 ? Int(parts[1]) : nil)
    }

    private static func hostPart(_ endpoint: String) -> String {
        if endpoint.hasPrefix("["), let end = endpoint.firstIndex(of: "]") {
            return String(endpoint[endpoint.index(after: endpoint.startIndex)..<end])
        }
        return endpoint.split(separator: ":").dropLast().joined(separator: ":")
    }

    private static func ipv4Mask(_ length: Int) -> String {
        let bits: UInt32 = length == 0 ? 0 : ~UInt32(0) << (32 - UInt32(length))
        return [24, 16, 8, 0].map { String((bits >> $0) & 0xff) }.joined(separator: ".")
    }
}
