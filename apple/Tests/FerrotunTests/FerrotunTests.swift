import Ferrotun
import XCTest

/// Runs on macOS (`swift test` in apple/ after ./build-xcframework.sh).
final class FerrotunTests: XCTestCase {
    let privateKey = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="

    func testWgQuickRoundTrip() throws {
        let text = """
        [Interface]
        PrivateKey = \(privateKey)
        Address = 10.0.0.2/32
        DNS = 10.0.0.1

        [Peer]
        PublicKey = \(TestKeys.peer)
        Endpoint = 192.0.2.1:51820
        AllowedIPs = 0.0.0.0/0
        """
        let config = try parseWgQuick(text: text)
        XCTAssertEqual(config.addresses, ["10.0.0.2/32"])
        XCTAssertEqual(config.peers.first?.endpoint, "192.0.2.1:51820")
        XCTAssertEqual(try parseWgQuick(text: try toWgQuick(config: config)), config)
    }

    func testMalformedConfigThrowsWithLineAndReason() {
        XCTAssertThrowsError(try parseWgQuick(text: "[Interface]\nPrivateKey = nope\n")) { error in
            guard case let FerrotunError.Config(line, reason) = error else {
                return XCTFail("unexpected error \(error)")
            }
            XCTAssertEqual(line, 2)
            XCTAssertFalse(reason.isEmpty)
        }
    }

    func testPublicKeyMatchesRfc7748Vector() throws {
        XCTAssertEqual(
            try publicKey(privateKey: "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo="),
            "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="
        )
        let generated = try generatePrivateKey()
        XCTAssertEqual(Data(base64Encoded: generated)?.count, 32)
        XCTAssertNotEqual(generated, try generatePrivateKey())
    }

    func testNegativeFdIsRejected() {
        let config = TunnelConfig(privateKey: privateKey)
        XCTAssertThrowsError(try Tunnel.start(config: config, tunFd: -1, protector: nil)) { error in
            guard case FerrotunError.InvalidFd = error else { return XCTFail("unexpected error \(error)") }
        }
    }

    func testTunnelOnSocketpairStartsAndStopsCleanly() async throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(socketpair(AF_UNIX, SOCK_DGRAM, 0, &fds), 0)
        defer { close(fds[1]) }
        let config = try makeConfig(addresses: ["10.99.0.1/32"], allowedIps: ["10.99.0.2/32"])
        let tunnel = try Tunnel.start(config: config, tunFd: fds[0], protector: nil)
        XCTAssertGreaterThan(try tunnel.listenPort(), 0)
        let first = try await tunnel.nextEvent()
        XCTAssertEqual(first, .started(listenPort: try tunnel.listenPort()))
        try tunnel.stop()
        var last: TunnelEvent?
        while let event = try await tunnel.nextEvent() { last = event }
        XCTAssertEqual(last, .stopped(error: nil))
        let after = try await tunnel.nextEvent()
        XCTAssertNil(after)
    }
}
