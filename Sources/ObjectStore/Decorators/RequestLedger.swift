// The tally of requests sent to a store, by kind, with bytes each way, retries and failures. The
// Counting decorator records each operation; backends record the requests an operation makes on
// its own (authentication, a re-send after a redirect or a clock correction); the Retrying
// decorator records each retry. The cost report is read from these numbers.
import Platform

public enum RequestKind: String, CaseIterable, Sendable, Codable {
    case PUT, GET, HEAD, LIST, DELETE, POST, AUTH
}

public struct RequestCounts: Sendable, Equatable, Codable {
    public var requests: [RequestKind: Int] = [:]
    /// Object bytes sent (PUT bodies) and received (GET bodies).
    public var bytesUp: UInt64 = 0
    public var bytesDown: UInt64 = 0
    /// Requests that repeated an earlier one (after a transient failure, a redirect, a clock fix).
    public var retries: Int = 0
    /// Requests that ended in an error.
    public var failures: Int = 0

    public init() {}
    public subscript(_ kind: RequestKind) -> Int { requests[kind] ?? 0 }
    public var total: Int { requests.values.reduce(0, +) }

    public static func + (a: RequestCounts, b: RequestCounts) -> RequestCounts {
        var r = a
        for (k, v) in b.requests { r.requests[k, default: 0] += v }
        r.bytesUp += b.bytesUp; r.bytesDown += b.bytesDown; r.retries += b.retries; r.failures += b.failures
        return r
    }
}

/// Thread-safe; one per store stack.
public final class RequestLedger: @unchecked Sendable {
    private let lock = Mutex()
    private var counts = RequestCounts()
    /// Called after every record, outside the lock, with the key of the operation under way (the
    /// cache persists counts per volume through it).
    public typealias Observer = @Sendable (RequestKind, _ key: String?, RequestCounts) -> Void
    private let observerLock = Mutex()
    private var observer: Observer?

    public init(observer: Observer? = nil) { self.observer = observer }

    /// Sets the observer (once the layer that persists counts exists).
    public func observe(_ observer: @escaping Observer) { observerLock.withLock { self.observer = observer } }

    /// The key of the store operation under way on this thread: requests a backend makes on its
    /// own (authentication, re-sends) and the Retrying decorator's retries are charged to it.
    @TaskLocal public static var operationKey: String?

    /// Runs one store operation on `key`, so every request it causes is charged to that key.
    public static func operation<T>(on key: String?, _ body: () throws -> T) rethrows -> T {
        try $operationKey.withValue(key ?? operationKey) { try body() }
    }

    private func notify(_ kind: RequestKind, _ delta: RequestCounts) {
        guard let observer = observerLock.withLock({ self.observer }) else { return }
        observer(kind, RequestLedger.operationKey, delta)
    }

    /// One request sent. `delta` carries its bytes, and a failure or retry mark when it has one.
    public func record(_ kind: RequestKind, bytesUp: UInt64 = 0, bytesDown: UInt64 = 0,
                       failed: Bool = false, retry: Bool = false) {
        var delta = RequestCounts()
        delta.requests[kind] = 1
        delta.bytesUp = bytesUp; delta.bytesDown = bytesDown
        delta.failures = failed ? 1 : 0; delta.retries = retry ? 1 : 0
        lock.withLock { counts = counts + delta }
        notify(kind, delta)
    }

    /// libcurl re-sent a request by itself (a reused connection had died before any answer): each
    /// re-send is one more request on the wire, one failure and one retry.
    public func recordResends(_ kind: RequestKind, requestsSent: Int) {
        for _ in 0..<max(0, requestsSent - 1) { record(kind, failed: true, retry: true) }
    }

    /// The next request of this kind repeats one that failed; the request itself is recorded apart.
    public func recordRetry(_ kind: RequestKind) {
        var delta = RequestCounts()
        delta.retries = 1
        lock.withLock { counts = counts + delta }
        notify(kind, delta)
    }

    public var snapshot: RequestCounts { lock.withLock { counts } }
}
