import Foundation

/// What `TunnelEngine.prepare()` found out before anything touches the OS.
public struct Preparation<Config: Sendable>: Sendable {
    /// The config with every endpoint resolved to an address; handed back to `start`.
    public var config: Config
    /// The interface settings of that config (core, Apple options).
    public var interface: InterfaceSpec
    /// What to show as the VPN server (`NetworkSettingsPlan.tunnelRemoteAddress(endpoints:)`).
    public var tunnelRemoteAddress: String

    public init(config: Config, interface: InterfaceSpec, tunnelRemoteAddress: String) {
        self.config = config
        self.interface = interface
        self.tunnelRemoteAddress = tunnelRemoteAddress
    }
}

/// The Ferrotun core as the adapter uses it; implemented over the generated
/// bindings in FerrotunNetworkExtension (`FerrotunEngine`), and by fakes in tests.
public protocol TunnelEngine: Sendable {
    associatedtype Config: Sendable
    associatedtype Running: RunningTunnel

    /// Resolves every endpoint host name (through the system resolver, with
    /// bounded retries) and computes the interface settings. Blocking; runs
    /// before the tunnel's settings exist, so DNS still uses the device's
    /// own network and resolvers.
    func prepare() throws -> Preparation<Config>

    /// Starts the tunnel on the interface the applied settings created.
    func start(_ config: Config) throws -> Running
}

/// A started tunnel.
public protocol RunningTunnel: Sendable {
    /// Rebinds the socket and handshakes again (new network path). Blocking, short.
    func networkChanged() throws
    /// Stops the tunnel; idempotent. Blocking, short. Its events then end with `.stopped`.
    func stop()
    /// The next event; `nil` after `.stopped`.
    func nextEvent() async throws -> AdapterEvent?
}

/// The provider as the adapter uses it; implemented by
/// `FerrotunPacketTunnelProvider`, and by fakes in tests.
public protocol TunnelHost: AnyObject, Sendable {
    /// `setTunnelNetworkSettings`; `completion` may never be called (the
    /// session's timeout covers that) or be called late.
    func applyNetworkSettings(_ plan: NetworkSettingsPlan, completion: @escaping @Sendable ((any Error)?) -> Void)
    /// `reasserting`.
    func setReasserting(_ reasserting: Bool)
    /// `cancelTunnelWithError`.
    func cancelTunnel(with error: any Error)
    /// Every event of the tunnel, in order (for the app's UI).
    func tunnelEvent(_ event: AdapterEvent)
    /// A problem worth logging that does not end the tunnel.
    func log(_ message: String)
}

/// Runs one tunnel for a packet tunnel provider: the order of the start, the
/// events, the network path and the stop.
///
/// `start()` does, in this order:
/// 1. `engine.prepare()`: resolve endpoints and compute the settings, while
///    the device's DNS is still reachable outside the (not yet configured) tunnel;
/// 2. `host.applyNetworkSettings` (`setTunnelNetworkSettings`), which creates
///    the utun's addresses and routes, bounded by `settingsTimeout`;
/// 3. `engine.start` on the utun.
/// Then the events are read until the tunnel stops; a `.stopped` that nobody
/// asked for ends the provider through `host.cancelTunnel`.
///
/// `stop()` may arrive at any point, also during `start()`, which then
/// throws `.stoppedWhileStarting` and leaves nothing running.
public actor TunnelSession<Engine: TunnelEngine> {
    private enum Phase {
        case idle
        case starting
        case running(Engine.Running)
        case stopped
    }

    private let engine: Engine
    private let host: any TunnelHost
    private let settingsTimeout: Double
    private var phase = Phase.idle
    private var stopRequested = false
    private var pathTracker = PathTracker()
    private var eventTask: Task<Void, Never>?

    /// - Parameter settingsTimeout: seconds `setTunnelNetworkSettings` may take.
    public init(engine: Engine, host: any TunnelHost, settingsTimeout: Double) {
        self.engine = engine
        self.host = host
        self.settingsTimeout = settingsTimeout
    }

    /// The running tunnel, if any (for stats).
    public var running: Engine.Running? {
        if case let .running(running) = phase { return running }
        return nil
    }

    /// Whether the network path is unsatisfied and the tunnel paused.
    public var isPaused: Bool { pathTracker.isPaused }

    /// Starts the tunnel; see the type's documentation for the order.
    ///
    /// - Throws: the engine's errors, the settings' error,
    ///   `FerrotunAdapterError.networkSettingsTimedOut`, `.stoppedWhileStarting`,
    ///   `.alreadyStarted`, or the leak checks of `NetworkSettingsPlan`.
    public func start() async throws {
        guard case .idle = phase else { throw FerrotunAdapterError.alreadyStarted }
        phase = .starting
        do {
            let running = try await startSteps()
            guard !stopRequested else {
                try? await runBlocking { running.stop() }
                throw FerrotunAdapterError.stoppedWhileStarting
            }
            phase = .running(running)
            eventTask = Task { await self.readEvents(of: running) }
        } catch {
            phase = .stopped
            throw error
        }
    }

    private func startSteps() async throws -> Engine.Running {
        let engine = self.engine
        let host = self.host
        let preparation = try await runBlocking { try engine.prepare() }
        let plan = try NetworkSettingsPlan(
            interface: preparation.interface,
            tunnelRemoteAddress: preparation.tunnelRemoteAddress
        )
        try checkNotStopped()
        let timeout = settingsTimeout
        let apply: @Sendable (@escaping @Sendable (Result<Void, any Error>) -> Void) -> Void = { done in
            host.applyNetworkSettings(plan) { error in
                if let error {
                    done(.failure(error))
                } else {
                    done(.success(Void()))
                }
            }
        }
        try await withTimeout(
            seconds: timeout,
            timeoutError: FerrotunAdapterError.networkSettingsTimedOut(seconds: timeout),
            apply
        )
        try checkNotStopped()
        let config = preparation.config
        return try await runBlocking { try engine.start(config) }
    }

    private func checkNotStopped() throws {
        if stopRequested { throw FerrotunAdapterError.stoppedWhileStarting }
    }

    /// Stops the tunnel (from `stopTunnel`). Idempotent; safe at any time.
    /// Returns after the tunnel's threads are joined.
    public func stop() async {
        stopRequested = true
        let wasRunning = running
        phase = .stopped
        if let wasRunning {
            try? await runBlocking { wasRunning.stop() }
        }
    }

    /// Waits until the event reader has finished (tests, and `stopTunnel`
    /// that wants the final `.stopped` delivered).
    public func eventsFinished() async {
        await eventTask?.value
    }

    /// Feeds one `NWPathMonitor` update; see `PathTracker` for what it does.
    /// Ignored unless the tunnel is running.
    public func pathChanged(_ status: NetworkPathStatus) async {
        guard let running = self.running else { return }
        switch pathTracker.handle(status) {
        case .none:
            return
        case .pause:
            host.setReasserting(true)
        case .rebind:
            await rebind(running, resuming: false)
        case .resume:
            await rebind(running, resuming: true)
        }
    }

    private func rebind(_ running: Engine.Running, resuming: Bool) async {
        do {
            try await runBlocking { try running.networkChanged() }
            if resuming { host.setReasserting(false) }
        } catch {
            // The next path update tries again; a tunnel that died reports
            // `.stopped` through its events.
            host.log("networkChanged failed: \(error)")
        }
    }

    private func readEvents(of running: Engine.Running) async {
        while true {
            var event: AdapterEvent?
            var failure: String?
            do {
                event = try await running.nextEvent()
            } catch {
                failure = "\(error)"
            }
            if let event { host.tunnelEvent(event) }
            var decision = EventDecision.after(event, stopRequested: stopRequested)
            if let failure, case .cancelTunnel = decision {
                decision = .cancelTunnel(.eventStreamEnded(reason: failure))
            }
            switch decision {
            case .keepReading:
                continue
            case .finish:
                return
            case let .cancelTunnel(error):
                stopRequested = true
                phase = .stopped
                // Idempotent; frees the socket when only the events failed.
                try? await runBlocking { running.stop() }
                host.cancelTunnel(with: error)
                return
            }
        }
    }
}
