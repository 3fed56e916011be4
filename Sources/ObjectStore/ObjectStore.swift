// The object-store protocol: the few calls every backend (S3, Swift, Local) answers, and every
// decorator (counting, retrying) wraps. Contracts are written beside each call.
import Platform

/// What a `put` uploads: a region of an open file (streamed, never read whole) or bytes in memory.
public typealias ObjectBody = RequestBody

/// Checksums the caller already has for a body, so a backend need not read it again to hash it.
public struct Checksums: Sendable, Equatable {
    public var sha256: [UInt8]?
    public var md5: [UInt8]?
    public init(sha256: [UInt8]? = nil, md5: [UInt8]? = nil) { self.sha256 = sha256; self.md5 = md5 }
    public static let none = Checksums()
}

/// Which checksums a backend uses on `put` (S3: SHA-256 for the signed payload; Swift: MD5 for the
/// ETag). Writers compute only these, once, while the bytes pass.
public struct ChecksumKinds: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public static let sha256 = ChecksumKinds(rawValue: 1)
    public static let md5 = ChecksumKinds(rawValue: 2)
}

/// Object keys: non-empty, no NUL, at most 1024 bytes (S3's and Swift's limit). An empty key would
/// name the bucket or container itself: a DELETE of it removes the bucket, a GET lists it.
public enum ObjectKey {
    public static let maxBytes = 1024

    /// Why `key` cannot name an object, or nil when it can.
    public static func problem(_ key: String) -> String? {
        if key.isEmpty { return "a key cannot be empty" }
        if key.utf8.contains(0) { return "a key cannot hold a NUL" }
        if key.utf8.count > maxBytes { return "a key is at most \(maxBytes) bytes long, this one \(key.utf8.count)" }
        return nil
    }

    /// Throws `.invalidRequest` (before any request is sent) when `key` cannot name an object.
    public static func validate(_ key: String) throws {
        if let why = problem(key) {
            var e = StoreError(.invalidRequest, "the key \(key.utf8.count > 80 ? String(key.prefix(60)).debugDescription + "…" : key.debugDescription) cannot be stored: \(why)", key: key)
            e.beforeRequest = true
            throw e
        }
    }
}

/// Where `get` puts an object's bytes.
public enum ObjectSink: Sendable {
    /// Returned in `GetResult.bytes`; for small objects (manifests, listings, ranged reads).
    case memory
    /// Written with pwrite from `offset` on; the file is not truncated.
    case file(descriptor: Int32, offset: UInt64)
}

/// An inclusive byte range, as in HTTP's `Range: bytes=first-last`.
public struct ByteRange: Sendable, Equatable, CustomStringConvertible {
    public var first: UInt64
    public var last: UInt64
    public init(_ first: UInt64, _ last: UInt64) { precondition(first <= last); self.first = first; self.last = last }
    public var count: UInt64 { last - first + 1 }
    public var description: String { "\(first)-\(last)" }
}

public struct ObjectInfo: Sendable, Equatable {
    public var key: String
    public var size: UInt64
    /// The store's entity tag, without quotes (MD5 hex for single-part objects on S3 and Swift).
    public var etag: String?
    public init(key: String, size: UInt64, etag: String? = nil) { self.key = key; self.size = size; self.etag = etag }
}

public struct GetResult: Sendable {
    public var info: ObjectInfo
    /// The bytes, when the sink was `.memory`.
    public var bytes: [UInt8]
    /// How many bytes were delivered (to memory or to the file).
    public var length: UInt64
}

public struct ListPage: Sendable {
    public var objects: [ObjectInfo]
    /// Pass to the next `list` call to continue; nil when this was the last page.
    public var continuation: String?
}

/// The protocol every backend and decorator implements. All calls are synchronous and thread-safe;
/// all are idempotent, so a retrying decorator may repeat any of them after a transient error.
public protocol ObjectStore: Sendable {
    /// A short name for messages: "s3 http://127.0.0.1:8080 bucket backups".
    var name: String { get }
    /// The checksums `put` can use when given (see `ChecksumKinds`).
    var checksumKinds: ChecksumKinds { get }
    /// Largest number of keys one `delete(keys:)` call may carry; 0 when the store has no batch delete.
    var maxBatchDelete: Int { get }

    /// Stores `body` under `key`, replacing any object there, atomically: a reader sees the old object
    /// or the new one, never part of one. Checksums given are checked by the store where it can
    /// (S3: x-amz-content-sha256; Swift: ETag), and a mismatch throws `.checksumMismatch`.
    /// Throws: `.containerNotFound`, `.badCredentials`, `.accessDenied`, transient kinds.
    func put(_ key: String, body: ObjectBody, checksums: Checksums) throws -> ObjectInfo

    /// Reads `key` whole, or `range` of it. A range past the end is cut to the object; one starting
    /// at or past the end throws `.invalidRange`. Into a file, a failed attempt may have written part
    /// of the bytes: the caller owns that region until a call succeeds.
    /// Throws: `.notFound`, `.invalidRange`, `.containerNotFound`, credentials kinds, transient kinds.
    func get(_ key: String, range: ByteRange?, into sink: ObjectSink) throws -> GetResult

    /// Size and entity tag of `key`. Throws `.notFound` when there is none.
    func head(_ key: String) throws -> ObjectInfo

    /// Removes `key`. A key that is already gone is success (deletes are idempotent).
    func delete(_ key: String) throws

    /// Removes up to `maxBatchDelete` keys in one request; keys already gone count as removed.
    /// Returns the keys that could not be removed, with the reason for each.
    func delete(keys: [String]) throws -> [String: StoreError]

    /// One page of the keys that start with `prefix`, in byte order of their UTF-8, at most `limit`
    /// (the store may return fewer). Pass the returned continuation to get the next page.
    func list(prefix: String, continuation: String?, limit: Int) throws -> ListPage

    /// Creates the bucket or container. One that exists already and is ours is success.
    func createContainer() throws
}

public extension ObjectStore {
    /// Every key under `prefix`, following continuations.
    func listAll(prefix: String, pageSize: Int = 1000) throws -> [ObjectInfo] {
        var all: [ObjectInfo] = []
        var continuation: String? = nil
        repeat {
            let page = try list(prefix: prefix, continuation: continuation, limit: pageSize)
            all += page.objects
            continuation = page.continuation
        } while continuation != nil
        return all
    }

    /// Reachable, credentials accepted, bucket or container present: one LIST of at most one key.
    func check() throws { _ = try list(prefix: "", continuation: nil, limit: 1) }
}

/// Deletes keys one request each: for stores without a batch delete.
func deleteEach(_ store: any ObjectStore, _ keys: [String]) -> [String: StoreError] {
    var failed: [String: StoreError] = [:]
    for key in keys {
        do { try store.delete(key) } catch let e as StoreError { failed[key] = e } catch {
            failed[key] = StoreError(.io, "deleting \(key) failed: \(error)")
        }
    }
    return failed
}
