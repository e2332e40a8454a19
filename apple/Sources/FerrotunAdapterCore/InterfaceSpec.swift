import Foundation

// The core's interface settings (`interfaceSettings(config:options:)` in the
// generated bindings), restated as plain values so that this module needs
// nothing but Foundation. The Network Extension layer copies the generated
// records into these field by field; every decision is made here or in Rust.

/// One IP prefix as the core reports it.
public struct PrefixSpec: Equatable, Hashable, Sendable {
    /// The address, e.g. `"10.0.0.2"` or `"fd00::"`.
    public var address: String
    /// The prefix length: 0...32 for IPv4, 0...128 for IPv6.
    public var prefixLength: Int
    /// For IPv4 the dotted subnet mask the core computed, `nil` for IPv6.
    public var subnetMask: String?

    public init(address: String, prefixLength: Int, subnetMask: String? = nil) {
        self.address = address
        self.prefixLength = prefixLength
        self.subnetMask = subnetMask
    }
}

/// How the core decided to handle one address family.
public enum FamilyModeSpec: Equatable, Sendable {
    /// Some peer routes the family: its addresses and routes go to the tunnel.
    case routed
    /// No peer routes it and the app leaves it to the device's other networks.
    case leftToSystem
    /// No peer routes it and its traffic must be dropped: on Apple the core
    /// gives it a default route into the tunnel, where nothing carries it.
    case blocked
}

/// Addresses and routes of one address family.
public struct FamilySpec: Equatable, Sendable {
    public var mode: FamilyModeSpec
    /// Interface addresses (host bits kept), in config order.
    public var addresses: [PrefixSpec]
    /// Routes into the tunnel, merged and sorted by the core.
    public var routes: [PrefixSpec]

    public init(mode: FamilyModeSpec, addresses: [PrefixSpec] = [], routes: [PrefixSpec] = []) {
        self.mode = mode
        self.addresses = addresses
        self.routes = routes
    }
}

/// What the OS must be told about the tunnel interface.
public struct InterfaceSpec: Equatable, Sendable {
    public var mtu: Int
    public var ipv4: FamilySpec
    public var ipv6: FamilySpec
    public var dnsServers: [String]
    public var dnsSearchDomains: [String]

    public init(
        mtu: Int,
        ipv4: FamilySpec,
        ipv6: FamilySpec,
        dnsServers: [String] = [],
        dnsSearchDomains: [String] = []
    ) {
        self.mtu = mtu
        self.ipv4 = ipv4
        self.ipv6 = ipv6
        self.dnsServers = dnsServers
        self.dnsSearchDomains = dnsSearchDomains
    }
}
