import Dispatch
import Foundation

/// Resumes a continuation at most once, from whichever caller comes first.
final class ResumeOnce<T: Sendable>: @unchecked Sendable {
    // `continuation` is read and cleared under `lock`; that is the whole state.
    private let lock = NSLock()
    private var continuation: CheckedContinuation<T, any Error>?

    init(_ continuation: CheckedContinuation<T, any Error>) {
        self.continuation = continuation
    }

    func resume(with result: Result<T, any Error>) {
        lock.lock()
        let pending = continuation
        continuation = nil
        lock.unlock()
        pending?.resume(with: result)
    }
}

/// Runs a callback-style `operation` and returns its result, or throws
/// `timeoutError` when it has not called back within `seconds`.
///
/// A late or second callback is ignored. The operation itself is not
/// cancelled (NetworkExtension offers no way to cancel
/// `setTunnelNetworkSettings`); the caller treats the timeout as a failed start.
public func withTimeout<T: Sendable>(
    seconds: Double,
    timeoutError: any Error,
    _ operation: @escaping @Sendable (@escaping @Sendable (Result<T, any Error>) -> Void) -> Void
) async throws -> T {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
        let once = ResumeOnce(continuation)
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds) {
            once.resume(with: .failure(timeoutError))
        }
        operation { result in once.resume(with: result) }
    }
}

/// Runs blocking `work` (DNS resolution with retries, joining the tunnel's
/// threads) on a Dispatch thread, so it never holds one of the few threads
/// of Swift's cooperative pool.
public func runBlocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
        DispatchQueue.global(qos: .userInitiated).async {
            continuation.resume(with: Result { try work() })
        }
    }
}
