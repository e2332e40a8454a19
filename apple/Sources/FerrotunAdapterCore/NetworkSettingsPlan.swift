import Foundation

/// `NEPacketTunnelNetworkSettings` as plain values: the Network Extension
/// layer turns each field into the NE object of the same name and adds nothing.
public struct NetworkSettingsPlan: Equatable, Sendable {
    /// `tunnelRemoteAddress`: shown in Settings; never routed (see `tunnelRemoteAddress(endpoints:)`).
    public var tunnelRemoteAddress: String
    /// `ipv4Settings`; `nil` leaves IPv4 to the system.
    public var ipv4: IPv4Plan?
    /// `ipv6Settings`; `nil` leaves IPv6 to the system.
    public var ipv6: IPv6Plan?
    /// `dnsSettings`; `nil` keeps the system's resolvers.
    public var dns: DNSPlan?
    /// `mtu`.
    public var mtu: Int

    /// `NEIPv4Settings(addresses:subnetMasks:)` plus `includedRoutes`.
    public struct IPv4Plan: Equatable, Sendable {
        public var addresses: [String]
        public var subnetMasks: [String]
        /// `NEIPv4Route(destinationAddress:subnetMask:)` each.
        public var includedRoutes: [Route]

        public struct Route: Equatable, Sendable {
            public var destination: String
            public var subnetMask: String

            public init(destination: String, subnetMask: String) {
                self.destination = destination
                self.subnetMask = subnetMask
            }
        }

        public init(addresses: [String], subnetMasks: [String], includedRoutes: [Route]) {
            self.addresses = addresses
            self.subnetMasks = subnetMasks
            self.includedRoutes = includedRoutes
        }
    }

    /// `NEIPv6Settings(addresses:networkPrefixLengths:)` plus `includedRoutes`.
    public struct IPv6Plan: Equatable, Sendable {
        public var addresses: [String]
        public var prefixLengths: [Int]
        /// `NEIPv6Route(destinationAddress:networkPrefixLength:)` each.
        public var includedRoutes: [Route]

        public struct Route: Equatable, Sendable {
            public var destination: String
            public var prefixLength: Int

            public init(destination: String, prefixLength: Int) {
                self.destination = destination
                self.prefixLength = prefixLength
            }
        }

        public init(addresses: [String], prefixLengths: [Int], includedRoutes: [Route]) {
            self.addresses = addresses
            self.prefixLengths = prefixLengths
            self.includedRoutes = includedRoutes
        }
    }

    /// `NEDNSSettings(servers:)` with `searchDomains` and `matchDomains`.
    public struct DNSPlan: Equatable, Sendable {
        public var servers: [String]
        public var searchDomains: [String]
        /// `[""]`: every query goes to the tunnel's servers, not only those
        /// for the search domains (otherwise DNS would leak to the ISP).
        public var matchDomains: [String]

        public init(servers: [String], searchDomains: [String], matchDomains: [String]) {
            self.servers = servers
            self.searchDomains = searchDomains
            self.matchDomains = matchDomains
        }
    }
}

extension NetworkSettingsPlan {
    /// The address shown as the VPN server when no peer has an endpoint.
    public static let placeholderRemoteAddress = "127.0.0.1"

    /// Maps the core's interface settings (computed with Apple's options)
    /// onto the NE settings.
    ///
    /// A family gets settings exactly when it has addresses: with Apple's
    /// options the core gives every routed or blocked family an address (a
    /// placeholder when the config has none), because Apple ignores the
    /// routes of a family without one and the traffic would leak. This
    /// function checks that rule instead of trusting it.
    ///
    /// - Throws: `FerrotunAdapterError.routedFamilyWithoutAddress`,
    ///   `.blockedFamilyWithoutRoute` or `.invalidPrefixLength`.
    public init(interface: InterfaceSpec, tunnelRemoteAddress: String) throws {
        self.tunnelRemoteAddress = tunnelRemoteAddress
        self.ipv4 = try Self.ipv4Plan(interface.ipv4)
        self.ipv6 = try Self.ipv6Plan(interface.ipv6)
        self.dns = interface.dnsServers.isEmpty
            ? nil
            : DNSPlan(servers: interface.dnsServers, searchDomains: interface.dnsSearchDomains, matchDomains: [""])
        self.mtu = interface.mtu
    }

    /// The host of the first peer endpoint (`"192.0.2.1:51820"` gives
    /// `"192.0.2.1"`, `"[2001:db8::1]:51820"` gives `"2001:db8::1"`), or
    /// `placeholderRemoteAddress`. Pass resolved endpoints: the value is
    /// shown to the user, and packets to it are not routed specially
    /// (the extension's own socket already bypasses the tunnel).
    public static func tunnelRemoteAddress(endpoints: [String]) -> String {
        for endpoint in endpoints {
            if let host = host(ofEndpoint: endpoint) { return host }
        }
        return placeholderRemoteAddress
    }

    static func host(ofEndpoint endpoint: String) -> String? {
        if endpoint.hasPrefix("[") {
            guard let close = endpoint.firstIndex(of: "]") else { return nil }
            let host = endpoint[endpoint.index(after: endpoint.startIndex)..<close]
            return host.isEmpty ? nil : String(host)
        }
        guard let colon = endpoint.lastIndex(of: ":") else { return nil }
        let host = endpoint[..<colon]
        return host.isEmpty ? nil : String(host)
    }

    /// The rules that keep traffic from leaking past a tunnel that should carry it.
    private static func checkLeakRules(_ family: FamilySpec, name: String) throws {
        switch family.mode {
        case .leftToSystem:
            return
        case .blocked where family.routes.isEmpty:
            throw FerrotunAdapterError.blockedFamilyWithoutRoute(family: name)
        case .routed, .blocked:
            if family.addresses.isEmpty {
                throw FerrotunAdapterError.routedFamilyWithoutAddress(family: name)
            }
        }
    }

    private static func ipv4Plan(_ family: FamilySpec) throws -> IPv4Plan? {
        try checkLeakRules(family, name: "IPv4")
        guard !family.addresses.isEmpty else { return nil }
        let addresses = try family.addresses.map { ($0.address, try ipv4Mask($0)) }
        return IPv4Plan(
            addresses: addresses.map { $0.0 },
            subnetMasks: addresses.map { $0.1 },
            includedRoutes: try family.routes.map { IPv4Plan.Route(destination: $0.address, subnetMask: try ipv4Mask($0)) }
        )
    }

    private static func ipv6Plan(_ family: FamilySpec) throws -> IPv6Plan? {
        try checkLeakRules(family, name: "IPv6")
        guard !family.addresses.isEmpty else { return nil }
        for prefix in family.addresses + family.routes where !(0...128).contains(prefix.prefixLength) {
            throw FerrotunAdapterError.invalidPrefixLength(address: prefix.address, length: prefix.prefixLength)
        }
        return IPv6Plan(
            addresses: family.addresses.map(\.address),
            prefixLengths: family.addresses.map(\.prefixLength),
            includedRoutes: family.routes.map { IPv6Plan.Route(destination: $0.address, prefixLength: $0.prefixLength) }
        )
    }

    /// The core's dotted mask, or one computed from the length when absent.
    private static func ipv4Mask(_ prefix: PrefixSpec) throws -> String {
        guard (0...32).contains(prefix.prefixLength) else {
            throw FerrotunAdapterError.invalidPrefixLength(address: prefix.address, length: prefix.prefixLength)
        }
        if let mask = prefix.subnetMask { return mask }
        return ipv4SubnetMask(prefixLength: prefix.prefixLength)
    }

    /// `24` gives `"255.255.255.0"`. `prefixLength` must be in 0...32.
    public static func ipv4SubnetMask(prefixLength: Int) -> String {
        let bits: UInt32 = prefixLength == 0 ? 0 : ~UInt32(0) << UInt32(32 - prefixLength)
        return [24, 16, 8, 0].map { String((bits >> UInt32($0)) & 0xff) }.joined(separator: ".")
    }
}
