import FerrotunAdapterCore
import XCTest

final class PathTrackerTests: XCTestCase {
    private func actions(_ statuses: [NetworkPathStatus]) -> [PathTracker.Action] {
        var tracker = PathTracker()
        return statuses.map { tracker.handle($0) }
    }

    func testFirstUpdateIsTheBaseline() {
        XCTAssertEqual(actions([.satisfied]), [.none])
    }

    /// The old adapter rebound only when the interface names changed, so a
    /// move between two Wi-Fi networks (both `en0`) kept a dead socket.
    func testEverySatisfiableUpdateAfterTheFirstRebinds() {
        XCTAssertEqual(
            actions([.satisfied, .satisfied, .satisfied, .requiresConnection]),
            [.none, .rebind, .rebind, .rebind]
        )
    }

    func testOfflinePausesOnceAndTheNextUsablePathResumes() {
        XCTAssertEqual(
            actions([.satisfied, .unsatisfied, .unsatisfied, .satisfied, .satisfied]),
            [.none, .pause, .none, .resume, .rebind]
        )
    }

    func testStartingOfflinePausesAtOnce() {
        var tracker = PathTracker()
        XCTAssertEqual(tracker.handle(.unsatisfied), .pause)
        XCTAssertTrue(tracker.isPaused)
        XCTAssertEqual(tracker.handle(.requiresConnection), .resume)
        XCTAssertFalse(tracker.isPaused)
    }

    func testSatisfiability() {
        XCTAssertTrue(NetworkPathStatus.satisfied.isSatisfiable)
        XCTAssertTrue(NetworkPathStatus.requiresConnection.isSatisfiable)
        XCTAssertFalse(NetworkPathStatus.unsatisfied.isSatisfiable)
    }
}

final class EventDecisionTests: XCTestCase {
    func testEventsOfARunningTunnelKeepReading() {
        let running: [AdapterEvent] = [
            .started(listenPort: 51820),
            .handshakeCompleted(publicKey: "k"),
            .endpointChanged(publicKey: "k", endpoint: "192.0.2.1:1"),
            .peerUnreachable(publicKey: "k", unansweredSeconds: 15),
            .peerReachable(publicKey: "k"),
        ]
        for event in running {
            XCTAssertEqual(EventDecision.after(event, stopRequested: false), .keepReading, "\(event)")
        }
    }

    func testUnrequestedStopCancelsTheProviderWithTheReason() {
        XCTAssertEqual(
            EventDecision.after(.stopped(error: "TUN read failed: EIO"), stopRequested: false),
            .cancelTunnel(.tunnelStopped(reason: "TUN read failed: EIO"))
        )
        // Stopped without an error, but nobody here asked: still the end of the VPN.
        XCTAssertEqual(
            EventDecision.after(.stopped(error: nil), stopRequested: false),
            .cancelTunnel(.tunnelStopped(reason: "stopped without an error"))
        )
    }

    func testRequestedStopFinishesQuietly() {
        XCTAssertEqual(EventDecision.after(.stopped(error: nil), stopRequested: true), .finish)
        XCTAssertEqual(EventDecision.after(nil, stopRequested: true), .finish)
    }

    func testEventsEndingWithoutStoppedCancel() {
        guard case .cancelTunnel(.eventStreamEnded) = EventDecision.after(nil, stopRequested: false) else {
            return XCTFail("the end of the events must cancel the provider")
        }
    }
}
