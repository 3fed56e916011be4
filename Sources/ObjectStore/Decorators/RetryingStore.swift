// Repeats an operation that failed with a transient error (5xx, 429, SlowDown, a reset, a timeout)
// after exponential backoff with full jitter; never repeats other errors. Bounded by a number of
// retries and by a deadline after which no new attempt starts.
import Foundation
import Platform

public struct RetryPolicy: Sendable {
    /// Attempts after the first.
    public var retries: Int = 10
    public var baseDelay: Double = 0.1
    public var maxDelay: Double = 10
    /// No attempt starts later than this many seconds after the first.
    public var deadline: Double = 300
    public init(retries: Int = 10, baseDelay: Double = 0.1, maxDelay: Double = 10, deadline: Double = 300) {
        self.retries = retries; self.baseDelay = baseDelay; self.maxDelay = maxDelay; self.deadline = deadline
    }

    /// Full jitter: uniform in [0, min(maxDelay, base * 2^attempt)].
    func delay(beforeRetry attempt: Int) -> Double {
        let ceiling = min(maxDelay, baseDelay * pow(2, Double(min(attempt, 30))))
        return Double.random(in: 0...ceiling)
    }
}

public struct RetryingStore: ObjectStore {
    /// CHUNKVOL_TRACE=1 prints every retry and its cause on standard error (never a secret).
    static let trace = ProcessInfo.processInfo.environment["CHUNKVOL_TRACE"] != nil
    public let inner: any ObjectStore
    public let policy: RetryPolicy
    public let ledger: RequestLedger?

    public init(_ inner: any ObjectStore, policy: RetryPolicy, ledger: RequestLedger?) {
        self.inner = inner; self.policy = policy; self.ledger = ledger
    }

    public var name: String { inner.name }
    public var checksumKinds: ChecksumKinds { inner.checksumKinds }
    public var maxBatchDelete: Int { inner.maxBatchDelete }

    private func retrying<T>(_ kind: RequestKind, key: String?, _ body: () throws -> T) throws -> T {
        try RequestLedger.operation(on: key) { try retryingUncharged(kind, body) }
    }

    private func retryingUncharged<T>(_ kind: RequestKind, _ body: () throws -> T) throws -> T {
        let start = Date()
        var attempt = 0
        while true {
            do {
                return try body()
            } catch let error as StoreError where error.isTransient && attempt < policy.retries {
                let pause = policy.delay(beforeRetry: attempt)
                guard Date().timeIntervalSince(start) + pause <= policy.deadline else { throw error }
                attempt += 1
                if RetryingStore.trace { FileHandle.standardError.write(Data("chunkvol: retry \(attempt) of \(kind) after: \(error)\n".utf8)) }
                ledger?.recordRetry(kind)
                Thread.sleep(forTimeInterval: pause)
            }
        }
    }

    public func put(_ key: String, body: ObjectBody, checksums: Checksums) throws -> ObjectInfo {
        try retrying(.PUT, key: key) { try inner.put(key, body: body, checksums: checksums) }
    }
    public func get(_ key: String, range: ByteRange?, into sink: ObjectSink) throws -> GetResult {
        try retrying(.GET, key: key) { try inner.get(key, range: range, into: sink) }
    }
    public func head(_ key: String) throws -> ObjectInfo { try retrying(.HEAD, key: key) { try inner.head(key) } }
    public func delete(_ key: String) throws { try retrying(.DELETE, key: key) { try inner.delete(key) } }
    public func delete(keys: [String]) throws -> [String: StoreError] {
        if inner.maxBatchDelete == 0 { return deleteEach(self, keys) }
        return try retrying(.POST, key: keys.first) { try inner.delete(keys: keys) }
    }
    public func list(prefix: String, continuation: String?, limit: Int) throws -> ListPage {
        try retrying(.LIST, key: prefix) { try inner.list(prefix: prefix, continuation: continuation, limit: limit) }
    }
    public func createContainer() throws { try retrying(.PUT, key: nil) { try inner.createContainer() } }
}
