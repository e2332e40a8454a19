import Foundation

/// The tunnel's events (the generated `TunnelEvent`), restated as plain values.
public enum AdapterEvent: Equatable, Sendable {
    /// Running; the UDP socket is bound to `listenPort`.
    case started(listenPort: UInt16)
    /// A handshake with the peer completed (first one and every rekey).
    case handshakeCompleted(publicKey: String)
    /// The peer's endpoint was learned or moved (roaming).
    case endpointChanged(publicKey: String, endpoint: String)
    /// The peer's handshakes have gone unanswered for `unansweredSeconds`:
    /// show "not reachable". The core re-resolves host-name endpoints itself.
    case peerUnreachable(publicKey: String, unansweredSeconds: UInt64)
    /// The peer answered again.
    case peerReachable(publicKey: String)
    /// The tunnel stopped; `error` says why when nobody asked it to.
    case stopped(error: String?)
}

/// What the adapter does after an event (or after the event stream ended,
/// `event == nil`).
public enum EventDecision: Equatable, Sendable {
    /// Keep reading events.
    case keepReading
    /// The tunnel stopped because the adapter asked it to: stop reading.
    case finish
    /// The tunnel stopped by itself: end the provider with
    /// `cancelTunnelWithError(error)`, or the system would keep showing a
    /// connected VPN that carries nothing.
    case cancelTunnel(FerrotunAdapterError)

    /// `stopRequested`: whether `stopTunnel` (or the adapter itself) asked the tunnel to stop.
    public static func after(_ event: AdapterEvent?, stopRequested: Bool) -> EventDecision {
        switch event {
        case .started, .handshakeCompleted, .endpointChanged, .peerUnreachable, .peerReachable:
            return .keepReading
        case let .stopped(error):
            if stopRequested { return .finish }
            return .cancelTunnel(.tunnelStopped(reason: error ?? "stopped without an error"))
        case nil:
            if stopRequested { return .finish }
            return .cancelTunnel(.eventStreamEnded(reason: "no Stopped event before the end"))
        }
    }
}
