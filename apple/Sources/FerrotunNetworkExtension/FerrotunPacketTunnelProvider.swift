import Ferrotun
import FerrotunAdapterCore
import Foundation
import Network
import NetworkExtension
import os

/// A `NEPacketTunnelProvider` running a Ferrotun tunnel on the extension's utun.
///
/// Subclass it as the extension's principal class. What it does, in order
/// (the logic lives in FerrotunAdapterCore's `TunnelSession`, tested on Linux
/// too; this class only connects it to NetworkExtension):
///
/// 1. reads the wg-quick config from the Keychain item behind the profile's
///    `passwordReference` (`tunnelConfig(options:)`; the app stores it with
///    `FerrotunKeychain.store`);
/// 2. resolves every endpoint host name (`resolveEndpoints`), before any
///    tunnel setting exists, so DNS goes through the device's own network;
/// 3. computes the interface settings (`interfaceSettings` with Apple's
///    options: every routed family has an address and its routes, IPv6
///    prefixes at most /120) and applies them with `setTunnelNetworkSettings`,
///    failing the start if that takes longer than `networkSettingsTimeout`;
/// 4. starts the tunnel on a `dup()` of the utun fd, `.appleUtun` framing;
/// 5. reads the tunnel's events: each goes to `handle(event:)`, and a
///    `Stopped` nobody asked for ends the provider with `cancelTunnelWithError`;
/// 6. watches the network path: every usable update rebinds the socket
///    (`networkChanged()`), an unsatisfied path pauses the tunnel
///    (`reasserting = true`) until a usable one returns.
///
/// App messages are answered with the stats as `key=value` lines.
/// No `SocketProtector` is needed: a packet tunnel provider's own sockets
/// are not routed into its tunnel.
///
/// Thread safety: NetworkExtension calls in on its own queues, the path
/// monitor on `pathQueue`, the session from Swift tasks. The only mutable
/// state is the four properties under `lock`, hence `@unchecked Sendable`.
open class FerrotunPacketTunnelProvider: NEPacketTunnelProvider, @unchecked Sendable {
    private let lock = NSLock()
    private var session: TunnelSession<FerrotunEngine>?
    private var pathMonitor: NWPathMonitor?
    private var pathUpdates: AsyncStream<NetworkPathStatus>.Continuation?
    private var pathTask: Task<Void, Never>?
    private let pathQueue = DispatchQueue(label: "dev.ferrotun.path-monitor")

    /// Seconds `setTunnelNetworkSettings` may take before the start fails. Default 15.
    open var networkSettingsTimeout: Double { 15 }

    /// The options of `interfaceSettings`. Default: `appleSettingsOptions()`
    /// (a family no peer routes is left to the system); set
    /// `unroutedFamily = .block` for a "block untunneled traffic" switch.
    open func settingsOptions() throws -> SettingsOptions {
        try appleSettingsOptions()
    }

    /// The config to run. Default: the wg-quick text of the Keychain item
    /// behind `passwordReference`. A profile that still carries the config in
    /// plain text in `providerConfiguration` is refused.
    open func tunnelConfig(options: [String: NSObject]?) throws -> TunnelConfig {
        let proto = protocolConfiguration as? NETunnelProviderProtocol
        let reference = try ConfigSource.keychainReference(
            passwordReference: proto?.passwordReference,
            providerConfigurationKeys: proto?.providerConfiguration.map { Array($0.keys) } ?? []
        )
        return try parseWgQuick(text: FerrotunKeychain.config(persistentReference: reference))
    }

    /// Called for every tunnel event, in order, from the session's task:
    /// return quickly (hand work to another queue). Default: nothing.
    open func handle(event: AdapterEvent) {}

    /// Called with problems that do not end the tunnel (a failed rebind). Default: os_log.
    open func logProblem(_ message: String) {
        Logger(subsystem: "dev.ferrotun", category: "adapter").error("\(message, privacy: .public)")
    }

    override open func startTunnel(
        options: [String: NSObject]?,
        completionHandler: @escaping @Sendable ((any Error)?) -> Void
    ) {
        let engine: FerrotunEngine
        do {
            let config = try tunnelConfig(options: options)
            let settingsOptions = try self.settingsOptions()
            engine = FerrotunEngine(config: config, options: settingsOptions)
        } catch {
            completionHandler(error)
            return
        }
        let session = TunnelSession(engine: engine, host: ProviderHost(provider: self), settingsTimeout: networkSettingsTimeout)
        locked { self.session = session }
        Task {
            do {
                try await session.start()
                self.watchPath(for: session)
                completionHandler(nil)
            } catch {
                completionHandler(error)
            }
        }
    }

    override open func stopTunnel(
        with reason: NEProviderStopReason,
        completionHandler: @escaping @Sendable () -> Void
    ) {
        lock.lock()
        let session = self.session
        let monitor = pathMonitor
        let updates = pathUpdates
        let task = pathTask
        self.session = nil
        pathMonitor = nil
        pathUpdates = nil
        pathTask = nil
        lock.unlock()
        monitor?.cancel()
        updates?.finish()
        task?.cancel()
        Task {
            await session?.stop()
            completionHandler()
        }
    }

    /// Answers any message with the current stats as `key=value` lines, or nil when not running.
    override open func handleAppMessage(_ messageData: Data, completionHandler: (@Sendable (Data?) -> Void)? = nil) {
        let session = locked { self.session }
        Task {
            var reply: Data?
            if let running = await session?.running, let stats = try? running.tunnel.stats() {
                reply = Data(stats.text.utf8)
            }
            completionHandler?(reply)
        }
    }

    /// Feeds `NWPathMonitor` updates, in order, to the session.
    private func watchPath(for session: TunnelSession<FerrotunEngine>) {
        var continuation: AsyncStream<NetworkPathStatus>.Continuation?
        let updates = AsyncStream<NetworkPathStatus> { continuation = $0 }
        guard let continuation else { return }
        let monitor = NWPathMonitor()
        monitor.pathUpdateHandler = { path in
            continuation.yield(NetworkPathStatus(path.status))
        }
        let task = Task {
            for await status in updates {
                await session.pathChanged(status)
            }
        }
        let stillRunning = locked { () -> Bool in
            // stopTunnel may have run while the session was starting.
            guard self.session === session else { return false }
            pathMonitor = monitor
            pathUpdates = continuation
            pathTask = task
            return true
        }
        guard stillRunning else {
            continuation.finish()
            task.cancel()
            return
        }
        monitor.start(queue: pathQueue)
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }
}

/// The provider as the session's `TunnelHost`.
private final class ProviderHost: TunnelHost {
    let provider: FerrotunPacketTunnelProvider

    init(provider: FerrotunPacketTunnelProvider) {
        self.provider = provider
    }

    func applyNetworkSettings(_ plan: NetworkSettingsPlan, completion: @escaping @Sendable ((any Error)?) -> Void) {
        provider.setTunnelNetworkSettings(NetworkSettingsMapping.settings(for: plan), completionHandler: completion)
    }

    func setReasserting(_ reasserting: Bool) {
        provider.reasserting = reasserting
    }

    func cancelTunnel(with error: any Error) {
        provider.cancelTunnelWithError(error)
    }

    func tunnelEvent(_ event: AdapterEvent) {
        provider.handle(event: event)
    }

    func log(_ message: String) {
        provider.logProblem(message)
    }
}

extension NetworkPathStatus {
    init(_ status: NWPath.Status) {
        switch status {
        case .satisfied: self = .satisfied
        case .requiresConnection: self = .requiresConnection
        case .unsatisfied: self = .unsatisfied
        @unknown default: self = .unsatisfied
        }
    }
}
