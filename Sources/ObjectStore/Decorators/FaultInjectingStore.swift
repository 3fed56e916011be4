// Fails chosen operations before they reach the store, with the error a real store would give:
// for unit tests of the layers above (retries, the volume layer's error paths). Integration tests
// inject faults on the wire instead, with Tests/tools/faultproxy.py in front of a real server.
import Platform

public struct FaultInjectingStore: ObjectStore {
    public enum Operation: String, Sendable { case put, get, head, delete, batchDelete, list, createContainer }
    /// Decides, per call, whether it fails and how; nil lets it through.
    public typealias Plan = @Sendable (Operation, String) -> StoreError?

    public let inner: any ObjectStore
    private let plan: Plan

    public init(_ inner: any ObjectStore, plan: @escaping Plan) { self.inner = inner; self.plan = plan }

    public var name: String { inner.name }
    public var checksumKinds: ChecksumKinds { inner.checksumKinds }
    public var maxBatchDelete: Int { inner.maxBatchDelete }

    private func gate(_ op: Operation, _ key: String) throws { if let e = plan(op, key) { throw e } }

    public func put(_ key: String, body: ObjectBody, checksums: Checksums) throws -> ObjectInfo {
        try gate(.put, key); return try inner.put(key, body: body, checksums: checksums)
    }
    public func get(_ key: String, range: ByteRange?, into sink: ObjectSink) throws -> GetResult {
        try gate(.get, key); return try inner.get(key, range: range, into: sink)
    }
    public func head(_ key: String) throws -> ObjectInfo { try gate(.head, key); return try inner.head(key) }
    public func delete(_ key: String) throws { try gate(.delete, key); try inner.delete(key) }
    public func delete(keys: [String]) throws -> [String: StoreError] {
        try gate(.batchDelete, keys.first ?? ""); return try inner.delete(keys: keys)
    }
    public func list(prefix: String, continuation: String?, limit: Int) throws -> ListPage {
        try gate(.list, prefix); return try inner.list(prefix: prefix, continuation: continuation, limit: limit)
    }
    public func createContainer() throws { try gate(.createContainer, ""); try inner.createContainer() }
}
