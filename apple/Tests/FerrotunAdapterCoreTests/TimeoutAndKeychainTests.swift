import FerrotunAdapterCore
import Foundation
import XCTest

private struct Marker: Error, Equatable {
    let name: String
}

/// Holds a callback to call later, from the test.
private final class HeldCallback: @unchecked Sendable {
    private let lock = NSLock()
    private var callback: (@Sendable (Result<Int, any Error>) -> Void)?

    func hold(_ callback: @escaping @Sendable (Result<Int, any Error>) -> Void) {
        lock.lock()
        self.callback = callback
        lock.unlock()
    }

    func call(_ result: Result<Int, any Error>) {
        lock.lock()
        let callback = self.callback
        lock.unlock()
        callback?(result)
    }
}

final class TimeoutTests: XCTestCase {
    func testCallbackInTimeReturnsItsValue() async throws {
        let value: Int = try await withTimeout(seconds: 5, timeoutError: Marker(name: "timeout")) { done in
            DispatchQueue.global().async { done(.success(7)) }
        }
        XCTAssertEqual(value, 7)
    }

    func testCallbackErrorIsThrown() async {
        do {
            let _: Int = try await withTimeout(seconds: 5, timeoutError: Marker(name: "timeout")) { done in
                done(.failure(Marker(name: "settings failed")))
            }
            XCTFail("no error")
        } catch {
            XCTAssertEqual(error as? Marker, Marker(name: "settings failed"))
        }
    }

    /// `setTunnelNetworkSettings` that never calls back must not hang the start.
    func testMissingCallbackTimesOut() async {
        let started = Date()
        do {
            let _: Int = try await withTimeout(seconds: 0.1, timeoutError: Marker(name: "timeout")) { _ in }
            XCTFail("no timeout")
        } catch {
            XCTAssertEqual(error as? Marker, Marker(name: "timeout"))
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
    }

    /// A callback after the timeout, or a second one, is ignored (a
    /// continuation resumed twice would crash the extension).
    func testLateAndRepeatedCallbacksAreIgnored() async throws {
        let held = HeldCallback()
        do {
            let _: Int = try await withTimeout(seconds: 0.05, timeoutError: Marker(name: "timeout")) { done in
                held.hold(done)
            }
            XCTFail("no timeout")
        } catch {
            XCTAssertEqual(error as? Marker, Marker(name: "timeout"))
        }
        held.call(.success(1))
        held.call(.failure(Marker(name: "late")))

        let value: Int = try await withTimeout(seconds: 5, timeoutError: Marker(name: "timeout")) { done in
            done(.success(1))
            done(.success(2))
        }
        XCTAssertEqual(value, 1)
    }

    func testRunBlockingReturnsAndThrows() async throws {
        let value = try await runBlocking { 40 + 2 }
        XCTAssertEqual(value, 42)
        do {
            let _: Int = try await runBlocking { throw Marker(name: "dns") }
            XCTFail("no error")
        } catch {
            XCTAssertEqual(error as? Marker, Marker(name: "dns"))
        }
    }
}

final class KeychainQueryTests: XCTestCase {
    private let reference = Data([1, 2, 3, 4])

    func testReadAsksForTheDataOfExactlyTheReferencedItem() {
        XCTAssertEqual(KeychainQuery.read(persistentReference: reference), [
            .itemClass: .genericPasswordClass,
            .persistentReference: .data(reference),
            .returnData: .bool(true),
            .matchLimit: .matchOne,
            .useDataProtectionKeychain: .bool(true),
        ])
    }

    func testAddStoresTheConfigUsableAfterFirstUnlockAndReturnsAReference() {
        let config = Data("[Interface]\nPrivateKey = secret\n".utf8)
        let query = KeychainQuery.add(config: config, account: "uuid-1", label: "Office", accessGroup: "TEAM.group")
        XCTAssertEqual(query[.valueData], .data(config))
        XCTAssertEqual(query[.accessible], .afterFirstUnlockThisDeviceOnly)
        XCTAssertEqual(query[.returnPersistentReference], .bool(true))
        XCTAssertEqual(query[.service], .string(KeychainQuery.service))
        XCTAssertEqual(query[.account], .string("uuid-1"))
        XCTAssertEqual(query[.label], .string("Office"))
        XCTAssertEqual(query[.accessGroup], .string("TEAM.group"))
        XCTAssertEqual(query[.useDataProtectionKeychain], .bool(true))
        XCTAssertNil(KeychainQuery.add(config: config, account: "a", label: "l", accessGroup: nil)[.accessGroup])
    }

    func testDeleteTargetsTheReferencedItem() {
        XCTAssertEqual(KeychainQuery.delete(persistentReference: reference), [
            .itemClass: .genericPasswordClass,
            .persistentReference: .data(reference),
            .useDataProtectionKeychain: .bool(true),
        ])
    }

    func testStatusesBecomeClearFailures() {
        XCTAssertNil(KeychainFailure(status: 0))
        XCTAssertEqual(KeychainFailure(status: -25300), .itemNotFound)
        XCTAssertEqual(KeychainFailure(status: -25308), .locked)
        XCTAssertEqual(KeychainFailure(status: -34018), .missingEntitlement)
        XCTAssertEqual(KeychainFailure(status: -25299), .duplicateItem)
        XCTAssertEqual(KeychainFailure(status: -1), .status(-1))
    }
}

final class ConfigSourceTests: XCTestCase {
    func testThePasswordReferenceIsUsed() throws {
        let reference = Data([9, 9])
        XCTAssertEqual(
            try ConfigSource.keychainReference(passwordReference: reference, providerConfigurationKeys: ["other"]),
            reference
        )
    }

    func testMissingReferenceIsAClearError() {
        for missing in [nil, Data()] {
            XCTAssertThrowsError(try ConfigSource.keychainReference(passwordReference: missing, providerConfigurationKeys: [])) {
                XCTAssertEqual($0 as? FerrotunAdapterError, .missingPasswordReference)
            }
        }
    }

    /// The old adapter read the private key from providerConfiguration; such
    /// a profile is refused, even when a Keychain reference is there too.
    func testPlainTextConfigInTheProfileIsRefused() {
        XCTAssertThrowsError(
            try ConfigSource.keychainReference(passwordReference: Data([1]), providerConfigurationKeys: ["wgQuickConfig"])
        ) {
            XCTAssertEqual($0 as? FerrotunAdapterError, .plaintextConfigRefused(key: "wgQuickConfig"))
        }
    }

    func testConfigTextFromTheKeychainsAnswer() throws {
        XCTAssertEqual(try ConfigSource.configText(status: 0, data: Data("[Interface]".utf8)), "[Interface]")
        XCTAssertThrowsError(try ConfigSource.configText(status: -25300, data: nil)) {
            XCTAssertEqual($0 as? FerrotunAdapterError, .keychain(.itemNotFound))
        }
        XCTAssertThrowsError(try ConfigSource.configText(status: 0, data: nil)) {
            XCTAssertEqual($0 as? FerrotunAdapterError, .keychain(.unexpectedResult))
        }
        XCTAssertThrowsError(try ConfigSource.configText(status: 0, data: Data([0xff, 0xfe]))) {
            XCTAssertEqual($0 as? FerrotunAdapterError, .configNotText)
        }
    }

    /// Error messages name the problem and never carry the config.
    func testErrorMessagesCarryNoSecrets() {
        let errors: [FerrotunAdapterError] = [
            .missingPasswordReference, .plaintextConfigRefused(key: "wgQuickConfig"), .keychain(.locked),
            .configNotText, .networkSettingsTimedOut(seconds: 15),
        ]
        for error in errors {
            let message = error.errorDescription ?? ""
            XCTAssertFalse(message.isEmpty)
            XCTAssertFalse(message.contains("PrivateKey ="), message)
        }
    }
}
