import Foundation

// Where the tunnel's config lives and how the Keychain is asked for it.
//
// The wg-quick text (which holds the private key) is one generic-password
// item in the Keychain; the VPN profile keeps only a persistent reference to
// it in `NETunnelProviderProtocol.passwordReference`, as WireGuard's own app
// does. `providerConfiguration` is not the place: it is stored with the VPN
// preferences, outside the Keychain's protection.
//
// The queries are described here with plain keys; the Security layer
// (FerrotunNetworkExtension/Keychain.swift) maps each key to its `kSec…`
// constant, so this file needs no Security framework.

/// A `kSec…` attribute of a Keychain query.
public enum KeychainKey: Hashable, Sendable {
    /// `kSecClass`
    case itemClass
    /// `kSecValuePersistentRef`
    case persistentReference
    /// `kSecValueData`
    case valueData
    /// `kSecAttrService`
    case service
    /// `kSecAttrAccount`
    case account
    /// `kSecAttrLabel`
    case label
    /// `kSecAttrAccessGroup`
    case accessGroup
    /// `kSecAttrAccessible`
    case accessible
    /// `kSecReturnData`
    case returnData
    /// `kSecReturnPersistentRef`
    case returnPersistentReference
    /// `kSecMatchLimit`
    case matchLimit
    /// `kSecUseDataProtectionKeychain`: on macOS, the iOS-style keychain that
    /// access groups and `kSecAttrAccessible` need; ignored elsewhere.
    case useDataProtectionKeychain
}

/// A value of a Keychain query attribute.
public enum KeychainValue: Equatable, Sendable {
    /// `kSecClassGenericPassword`
    case genericPasswordClass
    /// `kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly`: readable by the
    /// extension when the VPN starts on demand with the device locked (after
    /// the first unlock since boot), and never restored to another device.
    case afterFirstUnlockThisDeviceOnly
    /// `kSecMatchLimitOne`
    case matchOne
    case data(Data)
    case string(String)
    case bool(Bool)
}

/// The Keychain queries of the adapter and the app.
public enum KeychainQuery {
    /// The service name of Ferrotun's items.
    public static let service = "dev.ferrotun.tunnel-config"

    /// Reads the wg-quick text behind a profile's `passwordReference`.
    public static func read(persistentReference: Data) -> [KeychainKey: KeychainValue] {
        [
            .itemClass: .genericPasswordClass,
            .persistentReference: .data(persistentReference),
            .returnData: .bool(true),
            .matchLimit: .matchOne,
            .useDataProtectionKeychain: .bool(true),
        ]
    }

    /// Adds a config; asks for the persistent reference to store as the
    /// profile's `passwordReference`. `label` is shown in Keychain Access on
    /// macOS: pass the tunnel's name, never anything from the config.
    public static func add(
        config: Data,
        account: String,
        label: String,
        accessGroup: String?
    ) -> [KeychainKey: KeychainValue] {
        var query: [KeychainKey: KeychainValue] = [
            .itemClass: .genericPasswordClass,
            .service: .string(service),
            .account: .string(account),
            .label: .string(label),
            .valueData: .data(config),
            .accessible: .afterFirstUnlockThisDeviceOnly,
            .returnPersistentReference: .bool(true),
            .useDataProtectionKeychain: .bool(true),
        ]
        if let accessGroup { query[.accessGroup] = .string(accessGroup) }
        return query
    }

    /// Deletes the item behind a persistent reference.
    public static func delete(persistentReference: Data) -> [KeychainKey: KeychainValue] {
        [
            .itemClass: .genericPasswordClass,
            .persistentReference: .data(persistentReference),
            .useDataProtectionKeychain: .bool(true),
        ]
    }
}

/// Why the Keychain refused, from its `OSStatus`.
public enum KeychainFailure: Equatable, Sendable, CustomStringConvertible {
    /// `errSecItemNotFound`: the item was deleted or belongs to another access group.
    case itemNotFound
    /// `errSecInteractionNotAllowed`: the device has not been unlocked since boot.
    case locked
    /// `errSecMissingEntitlement`: the extension lacks the app's keychain access group.
    case missingEntitlement
    /// `errSecDuplicateItem` on add.
    case duplicateItem
    /// The Keychain answered success but with something other than the expected data.
    case unexpectedResult
    /// Any other status.
    case status(Int32)

    // Values from <Security/SecBase.h>; stable since they are part of the ABI.
    static let errSecSuccess: Int32 = 0
    static let errSecItemNotFound: Int32 = -25300
    static let errSecDuplicateItem: Int32 = -25299
    static let errSecInteractionNotAllowed: Int32 = -25308
    static let errSecMissingEntitlement: Int32 = -34018

    /// `nil` for `errSecSuccess`.
    public init?(status: Int32) {
        switch status {
        case Self.errSecSuccess: return nil
        case Self.errSecItemNotFound: self = .itemNotFound
        case Self.errSecInteractionNotAllowed: self = .locked
        case Self.errSecMissingEntitlement: self = .missingEntitlement
        case Self.errSecDuplicateItem: self = .duplicateItem
        default: self = .status(status)
        }
    }

    public var description: String {
        switch self {
        case .itemNotFound:
            return "the config item was not found (deleted, or in another access group)"
        case .locked:
            return "the Keychain is locked until the device is unlocked once after boot"
        case .missingEntitlement:
            return "the extension is missing the keychain-access-groups entitlement shared with the app"
        case .duplicateItem:
            return "an item with this account already exists"
        case .unexpectedResult:
            return "the Keychain returned an unexpected result"
        case let .status(status):
            return "OSStatus \(status)"
        }
    }
}

/// Where `startTunnel` finds the config.
public enum ConfigSource {
    /// The `providerConfiguration` key earlier versions read the plain
    /// wg-quick text from; a config there is refused, not used.
    public static let legacyPlaintextKey = "wgQuickConfig"

    /// The persistent Keychain reference to read.
    ///
    /// - Parameters:
    ///   - passwordReference: `NETunnelProviderProtocol.passwordReference`.
    ///   - providerConfigurationKeys: the keys of `providerConfiguration`.
    /// - Throws: `.plaintextConfigRefused` when a plain-text config is in the
    ///   profile (so that nobody keeps a private key there believing it is
    ///   used safely), `.missingPasswordReference` when there is no reference.
    public static func keychainReference(
        passwordReference: Data?,
        providerConfigurationKeys: [String]
    ) throws -> Data {
        if providerConfigurationKeys.contains(legacyPlaintextKey) {
            throw FerrotunAdapterError.plaintextConfigRefused(key: legacyPlaintextKey)
        }
        guard let reference = passwordReference, !reference.isEmpty else {
            throw FerrotunAdapterError.missingPasswordReference
        }
        return reference
    }

    /// The wg-quick text from the Keychain's answer.
    ///
    /// - Parameters:
    ///   - status: `SecItemCopyMatching`'s result.
    ///   - data: what it returned, `nil` if not `Data`.
    public static func configText(status: Int32, data: Data?) throws -> String {
        if let failure = KeychainFailure(status: status) {
            throw FerrotunAdapterError.keychain(failure)
        }
        guard let data else { throw FerrotunAdapterError.keychain(.unexpectedResult) }
        guard let text = String(data: data, encoding: .utf8), !text.isEmpty else {
            throw FerrotunAdapterError.configNotText
        }
        return text
    }
}
