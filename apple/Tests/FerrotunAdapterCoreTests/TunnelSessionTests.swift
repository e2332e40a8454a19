import FerrotunAdapterCore
import Foundation
import XCTest

/// A log shared by the fakes, so a test can assert the order of all calls.
private final class CallLog: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [String] = []

    func append(_ entry: String) {
        lock.lock()
        entries.append(entry)
        lock.unlock()
    }

    var all: [String] {
        lock.lock()
        defer { lock.unlock() }
        return entries
    }

    func count(_ entry: String) -> Int { all.filter { $0 == entry }.count }
}

private struct FakeFailure: Error, Equatable {
    let what: String
}

/// Events handed out one by one; `nextEvent` waits for `push`.
private actor EventFeed {
    private var buffered: [Result<AdapterEvent?, FakeFailure>] = []
    private var waiters: [CheckedContinuation<Result<AdapterEvent?, FakeFailure>, Never>] = []

    func push(_ item: Result<AdapterEvent?, FakeFailure>) {
        if waiters.isEmpty {
            buffered.append(item)
        } else {
            waiters.removeFirst().resume(returning: item)
        }
    }

    func next() async -> Result<AdapterEvent?, FakeFailure> {
        if !buffered.isEmpty { return buffered.removeFirst() }
        return await withCheckedContinuation { waiters.append($0) }
    }
}

private struct FakeRunning: RunningTunnel {
    let log: CallLog
    let feed: EventFeed
    let failNetworkChanged: Bool

    func networkChanged() throws {
        log.append("networkChanged")
        if failNetworkChanged { throw FakeFailure(what: "rebind") }
    }

    func stop() {
        log.append("stop")
        // Like the core: stopping ends the events with `.stopped(nil)`.
        let feed = self.feed
        Task { await feed.push(.success(.stopped(error: nil))) }
    }

    func nextEvent() async throws -> AdapterEvent? {
        try await feed.next().get()
    }
}

private struct FakeEngine: TunnelEngine {
    let log: CallLog
    let feed: EventFeed
    var interface = InterfaceSpec(
        mtu: 1280,
        ipv4: FamilySpec(
            mode: .routed,
            addresses: [PrefixSpec(address: "10.0.0.2", prefixLength: 32)],
            routes: [PrefixSpec(address: "0.0.0.0", prefixLength: 0)]
        ),
        ipv6: FamilySpec(
            mode: .routed,
            addresses: [PrefixSpec(address: "fd66:7274:756e::1", prefixLength: 120)],
            routes: [PrefixSpec(address: "::", prefixLength: 0)]
        )
    )
    var prepareError: FakeFailure?
    var failNetworkChanged = false

    func prepare() throws -> Preparation<String> {
        log.append("prepare")
        if let prepareError { throw prepareError }
        return Preparation(config: "resolved config", interface: interface, tunnelRemoteAddress: "192.0.2.1")
    }

    func start(_ config: String) throws -> FakeRunning {
        log.append("start(\(config))")
        return FakeRunning(log: log, feed: feed, failNetworkChanged: failNetworkChanged)
    }
}

private final class FakeHost: TunnelHost, @unchecked Sendable {
    enum Apply {
        case succeed
        case fail
        case never
        case hold
    }

    private let lock = NSLock()
    private let calls: CallLog
    private let apply: Apply
    private var plans: [NetworkSettingsPlan] = []
    private var heldCompletion: (@Sendable ((any Error)?) -> Void)?
    private var cancelErrors: [FerrotunAdapterError] = []
    private var reasserting: [Bool] = []
    private var events: [AdapterEvent] = []

    init(log: CallLog, apply: Apply = .succeed) {
        self.calls = log
        self.apply = apply
    }

    private func locked<T>(_ body: () -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }

    var appliedPlans: [NetworkSettingsPlan] { locked { plans } }
    var cancellations: [FerrotunAdapterError] { locked { cancelErrors } }
    var reassertingChanges: [Bool] { locked { reasserting } }
    var receivedEvents: [AdapterEvent] { locked { events } }

    func completeHeldApply() {
        let completion = locked { heldCompletion }
        completion?(nil)
    }

    func applyNetworkSettings(_ plan: NetworkSettingsPlan, completion: @escaping @Sendable ((any Error)?) -> Void) {
        calls.append("apply")
        locked { plans.append(plan) }
        switch apply {
        case .succeed: completion(nil)
        case .fail: completion(FakeFailure(what: "settings"))
        case .never: break
        case .hold: locked { heldCompletion = completion }
        }
    }

    func setReasserting(_ value: Bool) {
        calls.append("reasserting(\(value))")
        locked { reasserting.append(value) }
    }

    func cancelTunnel(with error: any Error) {
        calls.append("cancel")
        locked { cancelErrors.append(error as? FerrotunAdapterError ?? .tunnelStopped(reason: "not an adapter error: \(error)")) }
    }

    func tunnelEvent(_ event: AdapterEvent) {
        locked { events.append(event) }
    }

    func log(_ message: String) {
        calls.append("log")
    }
}

/// Polls `condition` for up to `seconds`; the sessions under test work on other tasks.
private func eventually(_ seconds: Double = 5, _ condition: @Sendable () async -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if await condition() { return true }
        try? await Task.sleep(nanoseconds: 10_000_000)
    }
    return await condition()
}

final class TunnelSessionTests: XCTestCase {
    private func makeSession(
        apply: FakeHost.Apply = .succeed,
        timeout: Double = 5,
        configure: (inout FakeEngine) -> Void = { _ in }
    ) -> (TunnelSession<FakeEngine>, FakeHost, CallLog, EventFeed) {
        let log = CallLog()
        let feed = EventFeed()
        var engine = FakeEngine(log: log, feed: feed)
        configure(&engine)
        let host = FakeHost(log: log, apply: apply)
        return (TunnelSession(engine: engine, host: host, settingsTimeout: timeout), host, log, feed)
    }

    /// Resolution and settings come before the tunnel touches the utun:
    /// resolve -> setTunnelNetworkSettings -> start.
    func testStartResolvesThenAppliesSettingsThenStarts() async throws {
        let (session, host, log, _) = makeSession()
        try await session.start()
        XCTAssertEqual(log.all, ["prepare", "apply", "start(resolved config)"])
        let plan = try XCTUnwrap(host.appliedPlans.first)
        XCTAssertEqual(plan.ipv6?.includedRoutes, [.init(destination: "::", prefixLength: 0)])
        XCTAssertEqual(plan.tunnelRemoteAddress, "192.0.2.1")
        let running = await session.running
        XCTAssertNotNil(running)
    }

    func testResolutionFailureStopsBeforeAnySettings() async {
        let (session, _, log, _) = makeSession { $0.prepareError = FakeFailure(what: "cannot resolve vpn.example.com") }
        do {
            try await session.start()
            XCTFail("started")
        } catch {
            XCTAssertEqual(error as? FakeFailure, FakeFailure(what: "cannot resolve vpn.example.com"))
        }
        XCTAssertEqual(log.all, ["prepare"])
    }

    func testSettingsErrorFailsTheStart() async {
        let (session, _, log, _) = makeSession(apply: .fail)
        do {
            try await session.start()
            XCTFail("started")
        } catch {
            XCTAssertEqual(error as? FakeFailure, FakeFailure(what: "settings"))
        }
        XCTAssertEqual(log.all, ["prepare", "apply"])
    }

    /// `setTunnelNetworkSettings` that never calls back fails the start in
    /// bounded time, and the tunnel is never started.
    func testSettingsTimeoutFailsTheStartWithoutStartingTheTunnel() async {
        let (session, _, log, _) = makeSession(apply: .never, timeout: 0.1)
        do {
            try await session.start()
            XCTFail("started")
        } catch {
            XCTAssertEqual(error as? FerrotunAdapterError, .networkSettingsTimedOut(seconds: 0.1))
        }
        XCTAssertEqual(log.all, ["prepare", "apply"])
        let running = await session.running
        XCTAssertNil(running)
    }

    /// A leaking plan is refused before anything is applied.
    func testLeakingSettingsAreNeverApplied() async {
        let (session, _, log, _) = makeSession {
            $0.interface.ipv6 = FamilySpec(mode: .routed, addresses: [], routes: [PrefixSpec(address: "::", prefixLength: 0)])
        }
        do {
            try await session.start()
            XCTFail("started")
        } catch {
            XCTAssertEqual(error as? FerrotunAdapterError, .routedFamilyWithoutAddress(family: "IPv6"))
        }
        XCTAssertEqual(log.all, ["prepare"])
    }

    func testStopWhileSettingsArePendingNeverStartsTheTunnel() async {
        let (session, host, log, _) = makeSession(apply: .hold)
        let start = Task { try await session.start() }
        let applied = await eventually { host.appliedPlans.count == 1 }
        XCTAssertTrue(applied)
        await session.stop()
        host.completeHeldApply()
        let result = await start.result
        XCTAssertThrowsError(try result.get()) {
            XCTAssertEqual($0 as? FerrotunAdapterError, .stoppedWhileStarting)
        }
        XCTAssertEqual(log.count("start(resolved config)"), 0)
    }

    func testStartTwiceIsRefused() async throws {
        let (session, _, _, _) = makeSession()
        try await session.start()
        do {
            try await session.start()
            XCTFail("started twice")
        } catch {
            XCTAssertEqual(error as? FerrotunAdapterError, .alreadyStarted)
        }
    }

    /// A `Stopped` event nobody asked for ends the provider with
    /// `cancelTunnelWithError`, carrying the core's reason; the events before
    /// it reach the app in order.
    func testUnrequestedStoppedEventCancelsTheProvider() async throws {
        let (session, host, log, feed) = makeSession()
        try await session.start()
        await feed.push(.success(.started(listenPort: 4242)))
        await feed.push(.success(.peerUnreachable(publicKey: "peer", unansweredSeconds: 15)))
        await feed.push(.success(.stopped(error: "TUN read failed: EIO")))
        await session.eventsFinished()
        XCTAssertEqual(host.cancellations, [.tunnelStopped(reason: "TUN read failed: EIO")])
        XCTAssertEqual(host.receivedEvents, [
            .started(listenPort: 4242),
            .peerUnreachable(publicKey: "peer", unansweredSeconds: 15),
            .stopped(error: "TUN read failed: EIO"),
        ])
        // The tunnel is released; a later path update does nothing.
        XCTAssertEqual(log.count("stop"), 1)
        await session.pathChanged(.satisfied)
        await session.pathChanged(.satisfied)
        XCTAssertEqual(log.count("networkChanged"), 0)
    }

    func testEventStreamFailureCancelsTheProvider() async throws {
        let (session, host, _, feed) = makeSession()
        try await session.start()
        await feed.push(.failure(FakeFailure(what: "panic in nextEvent")))
        await session.eventsFinished()
        guard case let .eventStreamEnded(reason)? = host.cancellations.first else {
            return XCTFail("not cancelled: \(host.cancellations)")
        }
        XCTAssertTrue(reason.contains("panic in nextEvent"), reason)
    }

    /// `stopTunnel`: the tunnel stops, its final `Stopped` is expected and
    /// does not cancel the provider again.
    func testRequestedStopDoesNotCancel() async throws {
        let (session, host, log, _) = makeSession()
        try await session.start()
        await session.stop()
        await session.eventsFinished()
        XCTAssertEqual(host.cancellations, [])
        XCTAssertEqual(host.receivedEvents, [.stopped(error: nil)])
        XCTAssertEqual(log.count("stop"), 1)
        await session.stop()
        XCTAssertEqual(log.count("stop"), 1, "stop is idempotent")
    }

    func testPathUpdatesRebindEveryTimeAndPauseWhileOffline() async throws {
        let (session, host, log, _) = makeSession()
        try await session.start()
        await session.pathChanged(.satisfied) // baseline
        XCTAssertEqual(log.count("networkChanged"), 0)
        await session.pathChanged(.satisfied)
        await session.pathChanged(.satisfied)
        XCTAssertEqual(log.count("networkChanged"), 2)
        await session.pathChanged(.unsatisfied)
        await session.pathChanged(.unsatisfied)
        let paused = await session.isPaused
        XCTAssertTrue(paused)
        XCTAssertEqual(log.count("networkChanged"), 2, "no rebind while offline")
        await session.pathChanged(.requiresConnection)
        XCTAssertEqual(log.count("networkChanged"), 3)
        XCTAssertEqual(host.reassertingChanges, [true, false])
        XCTAssertEqual(Array(log.all.suffix(3)), ["reasserting(true)", "networkChanged", "reasserting(false)"])
    }

    /// A failed rebind on resume keeps the tunnel marked as reasserting and is logged.
    func testFailedRebindKeepsReasserting() async throws {
        let (session, host, log, _) = makeSession { $0.failNetworkChanged = true }
        try await session.start()
        await session.pathChanged(.unsatisfied)
        await session.pathChanged(.satisfied)
        XCTAssertEqual(host.reassertingChanges, [true])
        XCTAssertEqual(log.count("log"), 1)
    }

    func testPathUpdatesBeforeTheStartAreIgnored() async throws {
        let (session, _, log, _) = makeSession()
        await session.pathChanged(.satisfied)
        await session.pathChanged(.unsatisfied)
        XCTAssertEqual(log.all, [])
    }
}
