import Foundation

/// `NWPath.Status` without the Network framework.
public enum NetworkPathStatus: Equatable, Sendable {
    /// Usable now.
    case satisfied
    /// Not up yet, but a connection attempt may bring it up (e.g. cellular
    /// data waking from idle). The tunnel's socket can do that, so it counts
    /// as usable, as WireGuard's own adapter treats it.
    case requiresConnection
    /// No usable network: the device is offline.
    case unsatisfied

    /// Whether the tunnel's socket can reach anything on this path.
    public var isSatisfiable: Bool { self != .unsatisfied }
}

/// Decides what each `NWPathMonitor` update means for a running tunnel.
///
/// The socket is rebound (`Tunnel.networkChanged()`: new socket, fresh
/// handshakes, endpoints resolved again) after *every* usable update, not
/// only when the interface names change: switching between two Wi-Fi
/// networks keeps `en0`, a new DHCP lease keeps the name too, and Apple
/// gives no finer detail (local addresses, gateways) that could tell a
/// harmless update from a real change. A spare rebind costs one handshake;
/// a missed one leaves the tunnel sending from a dead address.
///
/// While the path is unsatisfied the tunnel is paused: it is marked as
/// reasserting and nothing is rebound (there is nothing to bind to). The
/// first usable update after that resumes it.
///
/// The first update arrives right after the monitor starts and describes the
/// path the tunnel just bound on, so it causes no rebind.
public struct PathTracker: Equatable, Sendable {
    /// What the adapter does for one update.
    public enum Action: Equatable, Sendable {
        /// Nothing.
        case none
        /// Offline: set `reasserting = true`, stop rebinding.
        case pause
        /// Online again after a pause: rebind, then `reasserting = false`.
        case resume
        /// A new path while running: rebind.
        case rebind
    }

    public private(set) var isPaused = false
    private var hasBaseline = false

    public init() {}

    public mutating func handle(_ status: NetworkPathStatus) -> Action {
        let isFirst = !hasBaseline
        hasBaseline = true
        guard status.isSatisfiable else {
            if isPaused { return .none }
            isPaused = true
            return .pause
        }
        if isPaused {
            isPaused = false
            return .resume
        }
        return isFirst ? .none : .rebind
    }
}
