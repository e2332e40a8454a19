import FerrotunAdapterCore
import Foundation
import Security

/// The tunnel config in the Keychain: the app stores it and puts the returned
/// reference in `NETunnelProviderProtocol.passwordReference`; the extension
/// reads it back. The queries are built (and tested) in FerrotunAdapterCore;
/// this only maps them to `kSec…` constants and calls the Keychain.
///
/// The app and the extension must share a keychain access group
/// (`keychain-access-groups` entitlement); pass it as `accessGroup`.
public enum FerrotunKeychain {
    /// The wg-quick text behind `persistentReference`.
    ///
    /// - Throws: `FerrotunAdapterError.keychain` or `.configNotText`.
    public static func config(persistentReference: Data) throws -> String {
        var result: CFTypeRef?
        let status = SecItemCopyMatching(dictionary(KeychainQuery.read(persistentReference: persistentReference)), &result)
        return try ConfigSource.configText(status: status, data: result as? Data)
    }

    /// Stores `wgQuick` (private key included) as a new item and returns its
    /// persistent reference for `passwordReference`.
    ///
    /// - Parameter label: shown in Keychain Access; the tunnel's name, never config content.
    /// - Throws: `FerrotunAdapterError.keychain`.
    public static func store(wgQuick: String, label: String, accessGroup: String? = nil) throws -> Data {
        let query = KeychainQuery.add(
            config: Data(wgQuick.utf8),
            account: UUID().uuidString,
            label: label,
            accessGroup: accessGroup
        )
        var result: CFTypeRef?
        let status = SecItemAdd(dictionary(query), &result)
        if let failure = KeychainFailure(status: status) {
            throw FerrotunAdapterError.keychain(failure)
        }
        guard let reference = result as? Data else {
            throw FerrotunAdapterError.keychain(.unexpectedResult)
        }
        return reference
    }

    /// Deletes the item behind `persistentReference`; a missing item is not an error.
    ///
    /// - Throws: `FerrotunAdapterError.keychain`.
    public static func delete(persistentReference: Data) throws {
        let status = SecItemDelete(dictionary(KeychainQuery.delete(persistentReference: persistentReference)))
        if let failure = KeychainFailure(status: status), failure != .itemNotFound {
            throw FerrotunAdapterError.keychain(failure)
        }
    }

    static func dictionary(_ query: [KeychainKey: KeychainValue]) -> CFDictionary {
        var dictionary: [String: Any] = [:]
        for (key, value) in query {
            dictionary[name(of: key)] = object(for: value)
        }
        return dictionary as CFDictionary
    }

    private static func name(of key: KeychainKey) -> String {
        switch key {
        case .itemClass: return kSecClass as String
        case .persistentReference: return kSecValuePersistentRef as String
        case .valueData: return kSecValueData as String
        case .service: return kSecAttrService as String
        case .account: return kSecAttrAccount as String
        case .label: return kSecAttrLabel as String
        case .accessGroup: return kSecAttrAccessGroup as String
        case .accessible: return kSecAttrAccessible as String
        case .returnData: return kSecReturnData as String
        case .returnPersistentReference: return kSecReturnPersistentRef as String
        case .matchLimit: return kSecMatchLimit as String
        case .useDataProtectionKeychain: return kSecUseDataProtectionKeychain as String
        }
    }

    private static func object(for value: KeychainValue) -> Any {
        switch value {
        case .genericPasswordClass: return kSecClassGenericPassword
        case .afterFirstUnlockThisDeviceOnly: return kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
        case .matchOne: return kSecMatchLimitOne
        case let .data(data): return data
        case let .string(string): return string
        case let .bool(bool): return bool
        }
    }
}
