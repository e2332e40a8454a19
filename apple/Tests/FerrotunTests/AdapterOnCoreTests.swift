import Ferrotun
import FerrotunAdapterCore
@testable import FerrotunNetworkExtension
import NetworkExtension
import XCTest

/// The adapter's mapping run on the real core's `interfaceSettings` and turned
/// into real NE objects. Runs on macOS (`swift test` after ./build-xcframework.sh).
final class AdapterOnCoreTests: XCTestCase {
    private func config(addresses: [String], allowedIps: [String], dns: [String] = []) throws -> TunnelConfig {
        try makeConfig(addresses: addresses, allowedIps: allowedIps, endpoint: "192.0.2.1:51820", dns: dns)
    }

    private func neSettings(_ config: TunnelConfig, options: SettingsOptions? = nil) throws -> NEPacketTunnelNetworkSettings {
        let chosenOptions = try options ?? appleSettingsOptions()
        let settings = try interfaceSettings(config: config, options: chosenOptions)
        let plan = try NetworkSettingsPlan(
            interface: InterfaceSpec(settings),
            tunnelRemoteAddress: NetworkSettingsPlan.tunnelRemoteAddress(
                endpoints: config.peers.compactMap { $0.resolvedEndpoint ?? $0.endpoint }
            )
        )
        return NetworkSettingsMapping.settings(for: plan)
    }

    /// The IPv6 leak of the old adapter: full tunnel, IPv4 address only.
    func testFullTunnelWithoutIPv6AddressRoutesAllIPv6IntoTheTunnel() throws {
        let settings = try neSettings(config(addresses: ["10.0.0.2/32"], allowedIps: ["0.0.0.0/0", "::/0"]))
        let v6 = try XCTUnwrap(settings.ipv6Settings, "no IPv6 settings: IPv6 would bypass the tunnel")
        XCTAssertFalse(v6.addresses.isEmpty)
        let routes = (v6.includedRoutes ?? []).map { "\($0.destinationAddress)/\($0.destinationNetworkPrefixLength)" }
        XCTAssertEqual(routes, ["::/0"])
        let v4Routes = (settings.ipv4Settings?.includedRoutes ?? []).map { "\($0.destinationAddress)/\($0.destinationSubnetMask)" }
        XCTAssertEqual(v4Routes, ["0.0.0.0/0.0.0.0"])
        XCTAssertEqual(settings.tunnelRemoteAddress, "192.0.2.1")
    }

    func testIPv6InterfacePrefixIsClampedTo120() throws {
        let settings = try neSettings(config(addresses: ["10.0.0.2/32", "fd00::2/128"], allowedIps: ["0.0.0.0/0", "::/0"]))
        XCTAssertEqual(settings.ipv6Settings?.networkPrefixLengths.map(\.intValue), [120])
    }

    func testSplitTunnelLeavesTheOtherFamilyToTheSystem() throws {
        let settings = try neSettings(config(addresses: ["10.0.0.2/24"], allowedIps: ["10.0.0.0/24"], dns: ["10.0.0.1"]))
        XCTAssertNil(settings.ipv6Settings)
        XCTAssertEqual(settings.dnsSettings?.servers, ["10.0.0.1"])
        XCTAssertEqual(settings.dnsSettings?.matchDomains, [""])
        XCTAssertEqual(settings.mtu?.intValue, 1280)
    }

    func testBlockingAnUnroutedFamilyRoutesItIntoTheTunnel() throws {
        var options = try appleSettingsOptions()
        options.unroutedFamily = .block
        let settings = try neSettings(config(addresses: ["10.0.0.2/24"], allowedIps: ["10.0.0.0/24"]), options: options)
        let routes = (settings.ipv6Settings?.includedRoutes ?? []).map { "\($0.destinationAddress)/\($0.destinationNetworkPrefixLength)" }
        XCTAssertEqual(routes, ["::/0"])
    }

    func testEventsMapOneToOne() {
        XCTAssertEqual(AdapterEvent(.started(listenPort: 5)), .started(listenPort: 5))
        XCTAssertEqual(AdapterEvent(.stopped(error: "eof")), .stopped(error: "eof"))
        XCTAssertEqual(AdapterEvent(.peerReachable(publicKey: "k")), .peerReachable(publicKey: "k"))
        // The core's Duration arrives as a TimeInterval; the adapter keeps whole seconds.
        XCTAssertEqual(
            AdapterEvent(.peerUnreachable(publicKey: "k", unansweredFor: 15.75)),
            .peerUnreachable(publicKey: "k", unansweredSeconds: 15)
        )
    }
}
