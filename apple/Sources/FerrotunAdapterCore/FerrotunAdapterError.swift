import Foundation

/// Errors of the Network Extension adapter itself; Ferrotun's own arrive as
/// the generated `FerrotunError`. Messages never contain key material.
public enum FerrotunAdapterError: Error, Equatable, LocalizedError {
    /// The provider protocol has no `passwordReference`: the wg-quick config
    /// (with its private key) must be stored in the Keychain.
    case missingPasswordReference
    /// `providerConfiguration` holds a wg-quick config in plain text. It is
    /// refused: that dictionary is not protected like the Keychain is.
    case plaintextConfigRefused(key: String)
    /// The Keychain could not return the config.
    case keychain(KeychainFailure)
    /// The Keychain item is not UTF-8 text.
    case configNotText
    /// A family the tunnel routes has no interface address: Apple would drop
    /// its routes and the traffic would leak outside the tunnel.
    case routedFamilyWithoutAddress(family: String)
    /// A blocked family has no route into the tunnel, so Apple would not block it.
    case blockedFamilyWithoutRoute(family: String)
    /// An IPv4 prefix length outside 0...32 or an IPv6 one outside 0...128.
    case invalidPrefixLength(address: String, length: Int)
    /// `setTunnelNetworkSettings` did not call back in time.
    case networkSettingsTimedOut(seconds: Double)
    /// `stopTunnel` arrived while the tunnel was still starting.
    case stoppedWhileStarting
    /// `startTunnel` was called on a session that already started.
    case alreadyStarted
    /// The tunnel stopped without being asked to; `reason` is the core's.
    case tunnelStopped(reason: String)
    /// The tunnel's event stream failed or ended before a `Stopped` event.
    case eventStreamEnded(reason: String)
    /// No utun file descriptor was found in this process after applying the settings.
    case utunNotFound
    /// `dup()` of the utun fd failed.
    case dupFailed(errno: Int32)

    public var errorDescription: String? {
        switch self {
        case .missingPasswordReference:
            return "the tunnel's protocol configuration has no passwordReference; "
                + "store the wg-quick config in the Keychain (FerrotunKeychain.store)"
        case let .plaintextConfigRefused(key):
            return "providerConfiguration[\"\(key)\"] holds a plain-text config with a private key; "
                + "store it in the Keychain and set passwordReference instead"
        case let .keychain(failure):
            return "Keychain: \(failure.description)"
        case .configNotText:
            return "the Keychain item of this tunnel is not UTF-8 wg-quick text"
        case let .routedFamilyWithoutAddress(family):
            return "\(family) is routed into the tunnel but has no interface address; "
                + "its routes would be dropped and traffic would leak"
        case let .blockedFamilyWithoutRoute(family):
            return "\(family) should be blocked but has no route into the tunnel"
        case let .invalidPrefixLength(address, length):
            return "invalid prefix length /\(length) for \(address)"
        case let .networkSettingsTimedOut(seconds):
            return "setTunnelNetworkSettings did not complete within \(seconds) s"
        case .stoppedWhileStarting:
            return "the tunnel was stopped while it was starting"
        case .alreadyStarted:
            return "the tunnel was already started"
        case let .tunnelStopped(reason):
            return "the tunnel stopped: \(reason)"
        case let .eventStreamEnded(reason):
            return "the tunnel's events ended unexpectedly: \(reason)"
        case .utunNotFound:
            return "the utun file descriptor of this tunnel was not found"
        case let .dupFailed(errno):
            return "dup() of the utun fd failed: errno \(errno)"
        }
    }
}
