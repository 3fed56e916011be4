// Counts every operation as one request of its kind, with object bytes each way and failures.
import Platform

public struct CountingStore: ObjectStore {
    public let inner: any ObjectStore
    public let ledger: RequestLedger

    public init(_ inner: any ObjectStore, ledger: RequestLedger) { self.inner = inner; self.ledger = ledger }

    public var name: String { inner.name }
    public var checksumKinds: ChecksumKinds { inner.checksumKinds }
    public var maxBatchDelete: Int { inner.maxBatchDelete }

    private func counted<T>(_ kind: RequestKind, key: String?, up: UInt64 = 0, down: (T) -> UInt64 = { _ in 0 },
                            _ body: () throws -> T) throws -> T {
        try RequestLedger.operation(on: key) { try countedUncharged(kind, up: up, down: down, body) }
    }

    private func countedUncharged<T>(_ kind: RequestKind, up: UInt64, down: (T) -> UInt64,
                                     _ body: () throws -> T) throws -> T {
        do {
            let result = try body()
            ledger.record(kind, bytesUp: up, bytesDown: down(result))
            return result
        } catch let e as StoreError where e.beforeRequest {
            // Nothing of this kind was sent (authentication failed, and counted itself).
            throw e
        } catch let e as StoreError where e.kind == .notFound {
            // "No such key" is the store's answer to a question, not a failed request.
            ledger.record(kind)
            throw e
        } catch {
            ledger.record(kind, failed: true)
            throw error
        }
    }

    public func put(_ key: String, body: ObjectBody, checksums: Checksums) throws -> ObjectInfo {
        try counted(.PUT, key: key, up: body.length) { try inner.put(key, body: body, checksums: checksums) }
    }
    public func get(_ key: String, range: ByteRange?, into sink: ObjectSink) throws -> GetResult {
        try counted(.GET, key: key, down: { $0.length }) { try inner.get(key, range: range, into: sink) }
    }
    public func head(_ key: String) throws -> ObjectInfo {
        try counted(.HEAD, key: key) { try inner.head(key) }
    }
    public func delete(_ key: String) throws { try counted(.DELETE, key: key) { try inner.delete(key) } }
    public func delete(keys: [String]) throws -> [String: StoreError] {
        if inner.maxBatchDelete == 0 {
            // The backend deletes one request per key: count them that way.
            return deleteEach(self, keys)
        }
        return try counted(.POST, key: keys.first) { try inner.delete(keys: keys) }
    }
    public func list(prefix: String, continuation: String?, limit: Int) throws -> ListPage {
        try counted(.LIST, key: prefix) { try inner.list(prefix: prefix, continuation: continuation, limit: limit) }
    }
    public func createContainer() throws { try counted(.PUT, key: nil) { try inner.createContainer() } }
}
