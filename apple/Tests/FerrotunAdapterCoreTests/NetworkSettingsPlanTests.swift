import FerrotunAdapterCore
import XCTest

/// The mapping of the core's interface settings onto NE settings. The specs
/// are what `interfaceSettings(config:options: appleSettingsOptions())`
/// returns for each kind of config (FerrotunTests checks that against the
/// real core on macOS).
final class NetworkSettingsPlanTests: XCTestCase {
    private func v4(_ address: String, _ length: Int) -> PrefixSpec {
        PrefixSpec(address: address, prefixLength: length, subnetMask: NetworkSettingsPlan.ipv4SubnetMask(prefixLength: length))
    }

    private func v6(_ address: String, _ length: Int) -> PrefixSpec {
        PrefixSpec(address: address, prefixLength: length)
    }

    /// The leak the old adapter had: a full-tunnel config with only an IPv4
    /// address built IPv6 settings only from the config's own IPv6
    /// addresses, so `::/0` was dropped and IPv6 bypassed the tunnel. With
    /// Apple's options the core adds a placeholder address; the plan must
    /// carry the family and its default route.
    func testFullTunnelWithoutIPv6AddressStillRoutesAllIPv6() throws {
        let spec = InterfaceSpec(
            mtu: 1280,
            ipv4: FamilySpec(mode: .routed, addresses: [v4("10.0.0.2", 32)], routes: [v4("0.0.0.0", 0)]),
            ipv6: FamilySpec(mode: .routed, addresses: [v6("fd66:7274:756e::1", 120)], routes: [v6("::", 0)])
        )
        let plan = try NetworkSettingsPlan(interface: spec, tunnelRemoteAddress: "192.0.2.1")
        XCTAssertEqual(plan.ipv6?.includedRoutes, [.init(destination: "::", prefixLength: 0)])
        XCTAssertEqual(plan.ipv6?.addresses, ["fd66:7274:756e::1"])
        XCTAssertEqual(plan.ipv4?.includedRoutes, [.init(destination: "0.0.0.0", subnetMask: "0.0.0.0")])
        XCTAssertEqual(plan.ipv4?.addresses, ["10.0.0.2"])
        XCTAssertEqual(plan.ipv4?.subnetMasks, ["255.255.255.255"])
    }

    /// Should the core ever hand over a routed family without an address,
    /// the adapter refuses to start rather than let Apple drop the routes.
    func testRoutedFamilyWithoutAddressIsRefused() {
        let spec = InterfaceSpec(
            mtu: 1280,
            ipv4: FamilySpec(mode: .routed, addresses: [v4("10.0.0.2", 32)], routes: [v4("0.0.0.0", 0)]),
            ipv6: FamilySpec(mode: .routed, addresses: [], routes: [v6("::", 0)])
        )
        XCTAssertThrowsError(try NetworkSettingsPlan(interface: spec, tunnelRemoteAddress: "x")) { error in
            XCTAssertEqual(error as? FerrotunAdapterError, .routedFamilyWithoutAddress(family: "IPv6"))
        }
    }

    func testBlockedFamilyGetsItsDefaultRouteIntoTheTunnel() throws {
        let spec = InterfaceSpec(
            mtu: 1280,
            ipv4: FamilySpec(mode: .routed, addresses: [v4("10.0.0.2", 32)], routes: [v4("10.0.0.0", 24)]),
            ipv6: FamilySpec(mode: .blocked, addresses: [v6("fd66:7274:756e::1", 120)], routes: [v6("::", 0)])
        )
        let plan = try NetworkSettingsPlan(interface: spec, tunnelRemoteAddress: "x")
        XCTAssertEqual(plan.ipv6?.includedRoutes, [.init(destination: "::", prefixLength: 0)])
        XCTAssertEqual(plan.ipv4?.includedRoutes, [.init(destination: "10.0.0.0", subnetMask: "255.255.255.0")])
    }

    func testBlockedFamilyWithoutRouteIsRefused() {
        let spec = InterfaceSpec(
            mtu: 1280,
            ipv4: FamilySpec(mode: .blocked, addresses: [v4("192.0.0.8", 32)], routes: []),
            ipv6: FamilySpec(mode: .routed, addresses: [v6("fd00::2", 64)], routes: [v6("::", 0)])
        )
        XCTAssertThrowsError(try NetworkSettingsPlan(interface: spec, tunnelRemoteAddress: "x")) { error in
            XCTAssertEqual(error as? FerrotunAdapterError, .blockedFamilyWithoutRoute(family: "IPv4"))
        }
    }

    /// Split tunnel, IPv6 left to the system: no IPv6 settings at all, so
    /// the device's own IPv6 keeps working.
    func testFamilyLeftToTheSystemGetsNoSettings() throws {
        let spec = InterfaceSpec(
            mtu: 1420,
            ipv4: FamilySpec(
                mode: .routed,
                addresses: [v4("10.0.0.2", 24)],
                routes: [v4("10.0.0.0", 24), v4("192.168.77.0", 24)]
            ),
            ipv6: FamilySpec(mode: .leftToSystem)
        )
        let plan = try NetworkSettingsPlan(interface: spec, tunnelRemoteAddress: "x")
        XCTAssertNil(plan.ipv6)
        XCTAssertEqual(plan.ipv4?.subnetMasks, ["255.255.255.0"])
        XCTAssertEqual(plan.ipv4?.includedRoutes.map(\.destination), ["10.0.0.0", "192.168.77.0"])
        XCTAssertEqual(plan.mtu, 1420)
    }

    /// A family left to the system that still has an address keeps it, with no routes.
    func testFamilyLeftToTheSystemKeepsItsAddress() throws {
        let spec = InterfaceSpec(
            mtu: 1280,
            ipv4: FamilySpec(mode: .routed, addresses: [v4("10.0.0.2", 32)], routes: [v4("10.0.0.0", 8)]),
            ipv6: FamilySpec(mode: .leftToSystem, addresses: [v6("fd00::2", 120)])
        )
        let plan = try NetworkSettingsPlan(interface: spec, tunnelRemoteAddress: "x")
        XCTAssertEqual(plan.ipv6?.addresses, ["fd00::2"])
        XCTAssertEqual(plan.ipv6?.prefixLengths, [120])
        XCTAssertEqual(plan.ipv6?.includedRoutes, [])
    }

    func testIPv6OnlyConfig() throws {
        let spec = InterfaceSpec(
            mtu: 1280,
            ipv4: FamilySpec(mode: .leftToSystem),
            ipv6: FamilySpec(mode: .routed, addresses: [v6("fd00::2", 120)], routes: [v6("fd00::", 64)])
        )
        let plan = try NetworkSettingsPlan(interface: spec, tunnelRemoteAddress: "2001:db8::1")
        XCTAssertNil(plan.ipv4)
        XCTAssertEqual(plan.ipv6?.includedRoutes, [.init(destination: "fd00::", prefixLength: 64)])
        XCTAssertEqual(plan.tunnelRemoteAddress, "2001:db8::1")
    }

    /// The /120 clamp is the core's option; the plan passes the lengths through unchanged.
    func testIPv6PrefixLengthsArePassedThrough() throws {
        let spec = InterfaceSpec(
            mtu: 1280,
            ipv4: FamilySpec(mode: .leftToSystem),
            ipv6: FamilySpec(mode: .routed, addresses: [v6("fd00::2", 120), v6("fd01::2", 64)], routes: [v6("::", 0)])
        )
        let plan = try NetworkSettingsPlan(interface: spec, tunnelRemoteAddress: "x")
        XCTAssertEqual(plan.ipv6?.prefixLengths, [120, 64])
    }

    func testOutOfRangePrefixLengthsAreRefused() {
        let badV4 = InterfaceSpec(
            mtu: 1280,
            ipv4: FamilySpec(mode: .routed, addresses: [PrefixSpec(address: "10.0.0.2", prefixLength: 33)], routes: [v4("0.0.0.0", 0)]),
            ipv6: FamilySpec(mode: .leftToSystem)
        )
        XCTAssertThrowsError(try NetworkSettingsPlan(interface: badV4, tunnelRemoteAddress: "x")) { error in
            XCTAssertEqual(error as? FerrotunAdapterError, .invalidPrefixLength(address: "10.0.0.2", length: 33))
        }
        let badV6 = InterfaceSpec(
            mtu: 1280,
            ipv4: FamilySpec(mode: .leftToSystem),
            ipv6: FamilySpec(mode: .routed, addresses: [v6("fd00::2", 129)], routes: [v6("::", 0)])
        )
        XCTAssertThrowsError(try NetworkSettingsPlan(interface: badV6, tunnelRemoteAddress: "x"))
    }

    func testDNSSendsEveryQueryToTheTunnelsServers() throws {
        let spec = InterfaceSpec(
            mtu: 1280,
            ipv4: FamilySpec(mode: .routed, addresses: [v4("10.0.0.2", 32)], routes: [v4("0.0.0.0", 0)]),
            ipv6: FamilySpec(mode: .leftToSystem),
            dnsServers: ["10.0.0.1", "fd00::1"],
            dnsSearchDomains: ["corp.example"]
        )
        let plan = try NetworkSettingsPlan(interface: spec, tunnelRemoteAddress: "x")
        XCTAssertEqual(plan.dns, .init(servers: ["10.0.0.1", "fd00::1"], searchDomains: ["corp.example"], matchDomains: [""]))
    }

    func testNoDNSServersKeepsTheSystemResolvers() throws {
        let spec = InterfaceSpec(
            mtu: 1280,
            ipv4: FamilySpec(mode: .routed, addresses: [v4("10.0.0.2", 32)], routes: [v4("10.0.0.0", 24)]),
            ipv6: FamilySpec(mode: .leftToSystem),
            dnsSearchDomains: ["ignored.example"]
        )
        XCTAssertNil(try NetworkSettingsPlan(interface: spec, tunnelRemoteAddress: "x").dns)
    }

    /// A mask the core did not send is computed from the length.
    func testMissingSubnetMaskIsComputed() throws {
        let spec = InterfaceSpec(
            mtu: 1280,
            ipv4: FamilySpec(
                mode: .routed,
                addresses: [PrefixSpec(address: "10.1.2.3", prefixLength: 20)],
                routes: [PrefixSpec(address: "10.1.0.0", prefixLength: 20)]
            ),
            ipv6: FamilySpec(mode: .leftToSystem)
        )
        let plan = try NetworkSettingsPlan(interface: spec, tunnelRemoteAddress: "x")
        XCTAssertEqual(plan.ipv4?.subnetMasks, ["255.255.240.0"])
        XCTAssertEqual(plan.ipv4?.includedRoutes.first?.subnetMask, "255.255.240.0")
    }

    func testSubnetMasks() {
        XCTAssertEqual(NetworkSettingsPlan.ipv4SubnetMask(prefixLength: 0), "0.0.0.0")
        XCTAssertEqual(NetworkSettingsPlan.ipv4SubnetMask(prefixLength: 1), "128.0.0.0")
        XCTAssertEqual(NetworkSettingsPlan.ipv4SubnetMask(prefixLength: 24), "255.255.255.0")
        XCTAssertEqual(NetworkSettingsPlan.ipv4SubnetMask(prefixLength: 31), "255.255.255.254")
        XCTAssertEqual(NetworkSettingsPlan.ipv4SubnetMask(prefixLength: 32), "255.255.255.255")
    }

    func testTunnelRemoteAddressIsTheFirstEndpointsHost() {
        XCTAssertEqual(NetworkSettingsPlan.tunnelRemoteAddress(endpoints: ["192.0.2.1:51820"]), "192.0.2.1")
        XCTAssertEqual(NetworkSettingsPlan.tunnelRemoteAddress(endpoints: ["[2001:db8::1]:51820", "192.0.2.1:1"]), "2001:db8::1")
        XCTAssertEqual(NetworkSettingsPlan.tunnelRemoteAddress(endpoints: []), "127.0.0.1")
        XCTAssertEqual(NetworkSettingsPlan.tunnelRemoteAddress(endpoints: ["garbage", ":1", "[]:5"]), "127.0.0.1")
    }
}
