// The cache's SQLite index: for every cached chunk its volume, number, length, checksum, state and
// last use; the per-volume records; the request counters. The single source of truth for what is
// local, dirty, being uploaded or clean (Spec/cache.md). WAL mode, synchronous=FULL: a committed
// transaction survives a crash. The schema carries a version and is migrated forward on open.
import Foundation
import Platform
import ObjectStore

public enum ChunkState: String, Sendable, Codable {
    /// Newer than the store: must be uploaded. Never evicted.
    case dirty
    /// An upload is under way. Found after a crash, it is dirty again.
    case uploading
    /// The same bytes as the store, with the checksum the store confirmed. May be evicted.
    case clean

    public static let allStates: [ChunkState] = [.dirty, .uploading, .clean]
}

public struct ChunkRecord: Sendable, Equatable {
    public var volume: String
    public var number: Int
    public var length: UInt64
    public var state: ChunkState
    /// The chunk file is in the cache folder.
    public var cached: Bool
    /// SHA-256 of the chunk's bytes, when known (always for clean chunks).
    public var sha256: [UInt8]?
    public var lastUse: Double
    /// The last upload's failure, kept until an upload succeeds.
    public var error: String?

    public init(volume: String, number: Int, length: UInt64, state: ChunkState, cached: Bool,
                sha256: [UInt8]? = nil, lastUse: Double = Date().timeIntervalSince1970, error: String? = nil) {
        self.volume = volume; self.number = number; self.length = length; self.state = state
        self.cached = cached; self.sha256 = sha256; self.lastUse = lastUse; self.error = error
    }
}

public struct VolumeRecord: Sendable, Equatable {
    public var name: String
    public var chunkSize: UInt64
    public var size: UInt64
    /// Grows with every change of the volume.
    public var generation: Int64
    /// The generation the manifest on the store describes; nil when none was written from here.
    public var storedGeneration: Int64?
    public var updatedAt: Double

    public init(name: String, chunkSize: UInt64, size: UInt64, generation: Int64 = 0,
                storedGeneration: Int64? = nil, updatedAt: Double = Date().timeIntervalSince1970) {
        self.name = name; self.chunkSize = chunkSize; self.size = size; self.generation = generation
        self.storedGeneration = storedGeneration; self.updatedAt = updatedAt
    }
}

/// The index of one cache folder, shared by every store using the folder (rows carry a store id).
/// Thread-safe: one connection behind a lock; other processes coordinate through SQLite's locks.
public final class CacheIndex: @unchecked Sendable {
    public static let schemaVersion = 1
    private let db: SQLiteDatabase
    private let lock = Mutex()
    public let store: String

    /// Migrations, in order: migrations[i] takes the schema from version i to i + 1.
    static let migrations: [String] = [
        """
        CREATE TABLE volumes (
            store TEXT NOT NULL, name TEXT NOT NULL,
            chunk_size INTEGER NOT NULL, size INTEGER NOT NULL,
            generation INTEGER NOT NULL, stored_generation INTEGER,
            updated_at REAL NOT NULL,
            PRIMARY KEY (store, name));
        CREATE TABLE chunks (
            store TEXT NOT NULL, volume TEXT NOT NULL, number INTEGER NOT NULL,
            length INTEGER NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('dirty', 'uploading', 'clean')),
            cached INTEGER NOT NULL,
            sha256 BLOB, last_use REAL NOT NULL, error TEXT,
            PRIMARY KEY (store, volume, number));
        CREATE INDEX chunks_by_state ON chunks (state, cached, last_use);
        CREATE TABLE counters (
            store TEXT NOT NULL, volume TEXT NOT NULL, kind TEXT NOT NULL, day TEXT NOT NULL,
            requests INTEGER NOT NULL, bytes_up INTEGER NOT NULL, bytes_down INTEGER NOT NULL,
            retries INTEGER NOT NULL, failures INTEGER NOT NULL,
            PRIMARY KEY (store, volume, kind, day));
        """,
    ]

    public init(path: String, store: String) throws {
        self.store = store
        db = try SQLiteDatabase(path: path)
        try db.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON")
        // A damaged file may open; its pages tell. quick_check reads them all in milliseconds.
        let check = try db.query("PRAGMA quick_check").first?.first?.text ?? ""
        guard check == "ok" else { throw SQLiteError(code: 11, message: "quick_check: \(check.prefix(200))") }
        try migrate()
    }

    private func migrate() throws {
        try db.transaction {
            try db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            var version = 0
            if case .integer(let v)? = try db.query("SELECT version FROM schema_version").first?.first { version = Int(v) }
            else { try db.query("INSERT INTO schema_version VALUES (0)") }
            guard version <= CacheIndex.schemaVersion else {
                throw SQLiteError(code: 0, message: "the cache index has schema version \(version), newer than this chunkvol "
                                  + "(\(CacheIndex.schemaVersion)); use a newer chunkvol or another cache= folder")
            }
            while version < CacheIndex.schemaVersion {
                try db.execute(CacheIndex.migrations[version])
                version += 1
            }
            try db.query("UPDATE schema_version SET version = ?", [.integer(Int64(version))])
        }
    }

    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try lock.withLock { try db.transaction(body) }
    }

    // MARK: Volumes

    public func volume(_ name: String) throws -> VolumeRecord? {
        try lock.withLock {
            try db.query("SELECT name, chunk_size, size, generation, stored_generation, updated_at FROM volumes WHERE store = ? AND name = ?",
                         [.text(store), .text(name)]).first.map(CacheIndex.volumeRecord)
        }
    }

    public func volumes() throws -> [VolumeRecord] {
        try lock.withLock {
            try db.query("SELECT name, chunk_size, size, generation, stored_generation, updated_at FROM volumes WHERE store = ? ORDER BY name",
                         [.text(store)]).map(CacheIndex.volumeRecord)
        }
    }

    public func save(_ v: VolumeRecord) throws { try lock.withLock { try saveUnlocked(v) } }

    /// For use inside `transaction`, which holds the lock already.
    public func volumeUnlocked(_ name: String) throws -> VolumeRecord? {
        try db.query("SELECT name, chunk_size, size, generation, stored_generation, updated_at FROM volumes WHERE store = ? AND name = ?",
                     [.text(store), .text(name)]).first.map(CacheIndex.volumeRecord)
    }

    /// For use inside `transaction`, which holds the lock already.
    public func saveUnlocked(_ v: VolumeRecord) throws {
        do {
            try db.query("""
                INSERT INTO volumes (store, name, chunk_size, size, generation, stored_generation, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (store, name) DO UPDATE SET chunk_size = excluded.chunk_size, size = excluded.size,
                    generation = excluded.generation, stored_generation = excluded.stored_generation, updated_at = excluded.updated_at
                """, [.text(store), .text(v.name), .integer(Int64(v.chunkSize)), .integer(Int64(v.size)),
                      .integer(v.generation), v.storedGeneration.map { .integer($0) } ?? .null, .real(v.updatedAt)])
        }
    }

    public func removeVolume(_ name: String) throws {
        try lock.withLock {
            try db.transaction {
                try db.query("DELETE FROM chunks WHERE store = ? AND volume = ?", [.text(store), .text(name)])
                try db.query("DELETE FROM volumes WHERE store = ? AND name = ?", [.text(store), .text(name)])
            }
        }
    }

    private static func volumeRecord(_ row: [SQLiteValue]) -> VolumeRecord {
        VolumeRecord(name: row[0].text, chunkSize: UInt64(row[1].int), size: UInt64(row[2].int), generation: row[3].int,
                     storedGeneration: row[4] == .null ? nil : row[4].int, updatedAt: row[5].real)
    }

    // MARK: Chunks

    static let chunkColumns = "volume, number, length, state, cached, sha256, last_use, error"

    public func chunks(of volume: String) throws -> [ChunkRecord] {
        try lock.withLock {
            try db.query("SELECT \(CacheIndex.chunkColumns) FROM chunks WHERE store = ? AND volume = ? ORDER BY number",
                         [.text(store), .text(volume)]).map(CacheIndex.chunkRecord)
        }
    }

    public func chunk(_ volume: String, _ number: Int) throws -> ChunkRecord? {
        try lock.withLock {
            try db.query("SELECT \(CacheIndex.chunkColumns) FROM chunks WHERE store = ? AND volume = ? AND number = ?",
                         [.text(store), .text(volume), .integer(Int64(number))]).first.map(CacheIndex.chunkRecord)
        }
    }

    /// Chunks in `states` across this store's volumes, oldest use first.
    public func chunks(in states: [ChunkState]) throws -> [ChunkRecord] {
        let marks = states.map { _ in "?" }.joined(separator: ", ")
        return try lock.withLock {
            try db.query("SELECT \(CacheIndex.chunkColumns) FROM chunks WHERE store = ? AND state IN (\(marks)) ORDER BY last_use",
                         [.text(store)] + states.map { .text($0.rawValue) }).map(CacheIndex.chunkRecord)
        }
    }

    public func save(_ c: ChunkRecord) throws { try lock.withLock { try saveUnlocked(c) } }

    /// For use inside `transaction`, which holds the lock already.
    public func saveUnlocked(_ c: ChunkRecord) throws {
        do {
            try db.query("""
                INSERT INTO chunks (store, volume, number, length, state, cached, sha256, last_use, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (store, volume, number) DO UPDATE SET length = excluded.length, state = excluded.state,
                    cached = excluded.cached, sha256 = excluded.sha256, last_use = excluded.last_use, error = excluded.error
                """, [.text(store), .text(c.volume), .integer(Int64(c.number)), .integer(Int64(c.length)), .text(c.state.rawValue),
                      .integer(c.cached ? 1 : 0), c.sha256.map { .blob($0) } ?? .null, .real(c.lastUse), c.error.map { .text($0) } ?? .null])
        }
    }

    /// Changes only the state and error of a chunk's record (its length is the writer's to set).
    /// Does nothing when the chunk has no record.
    public func mark(_ volume: String, _ number: Int, state: ChunkState, error: String?) throws {
        try lock.withLock {
            _ = try db.query("UPDATE chunks SET state = ?, error = ? WHERE store = ? AND volume = ? AND number = ?",
                             [.text(state.rawValue), error.map { .text($0) } ?? .null, .text(store), .text(volume), .integer(Int64(number))])
        }
    }

    public func removeChunks(_ volume: String, from number: Int) throws {
        try lock.withLock { try removeChunksUnlocked(volume, from: number) }
    }

    public func removeChunksUnlocked(_ volume: String, from number: Int) throws {
        do {
            try db.query("DELETE FROM chunks WHERE store = ? AND volume = ? AND number >= ?",
                         [.text(store), .text(volume), .integer(Int64(number))])
        }
    }

    /// After a crash: uploads of `volume` that were under way are dirty again (their result is
    /// unknown). Only for a volume whose writer lock the caller holds: another process's uploads
    /// are its own.
    public func resetInterruptedUploads(volume: String) throws -> Int {
        try lock.withLock {
            try db.query("UPDATE chunks SET state = 'dirty' WHERE store = ? AND volume = ? AND state = 'uploading'",
                         [.text(store), .text(volume)])
            return db.changes
        }
    }

    /// Volumes with chunks dirty or being uploaded.
    public func volumesWithUnsentChunks() throws -> [String] {
        try lock.withLock {
            try db.query("SELECT DISTINCT volume FROM chunks WHERE store = ? AND state != 'clean' ORDER BY volume",
                         [.text(store)]).map { $0[0].text }
        }
    }

    // Compare-and-set changes: processes sharing the cache folder each decide under their own
    // locks, so a change that depends on a record's state makes it in the same statement.

    /// Drops a clean cached chunk from the cache's records; false when it is no longer clean and
    /// cached (a writer in another process made it dirty): its file must then stay.
    public func evictIfClean(_ volume: String, _ number: Int) throws -> Bool {
        try lock.withLock {
            try db.query("UPDATE chunks SET cached = 0 WHERE store = ? AND volume = ? AND number = ? AND state = 'clean' AND cached = 1",
                         [.text(store), .text(volume), .integer(Int64(number))])
            return db.changes == 1
        }
    }

    /// Marks a clean cached chunk dirty before its bytes change; false when it is not clean and
    /// cached any more (evicted by another process meanwhile).
    public func markDirtyIfCachedClean(_ volume: String, _ number: Int) throws -> Bool {
        try lock.withLock {
            try db.query("UPDATE chunks SET state = 'dirty', sha256 = NULL WHERE store = ? AND volume = ? AND number = ? AND state = 'clean' AND cached = 1",
                         [.text(store), .text(volume), .integer(Int64(number))])
            return db.changes == 1
        }
    }

    /// Claims a chunk that is not cached, for a write replacing all of it: cached and dirty from now
    /// on, before its file is made. False when it is cached already (a download was installed).
    public func claimUncached(_ volume: String, _ number: Int) throws -> Bool {
        try lock.withLock {
            try db.query("UPDATE chunks SET cached = 1, state = 'dirty', sha256 = NULL WHERE store = ? AND volume = ? AND number = ? AND cached = 0",
                         [.text(store), .text(volume), .integer(Int64(number))])
            return db.changes == 1
        }
    }

    /// Records a downloaded chunk as cached, before its file is put in place; false when it is
    /// cached already or no longer clean (a writer claimed it): the download must then be dropped.
    public func installIfUncached(_ volume: String, _ number: Int, sha256: [UInt8], lastUse: Double) throws -> Bool {
        try lock.withLock {
            try db.query("UPDATE chunks SET cached = 1, sha256 = ?, last_use = ? WHERE store = ? AND volume = ? AND number = ? AND cached = 0 AND state = 'clean'",
                         [.blob(sha256), .real(lastUse), .text(store), .text(volume), .integer(Int64(number))])
            return db.changes == 1
        }
    }

    /// Bytes of chunk files in the cache folder for this store, and the dirty part of them.
    /// Writers ask before every write: the sums are kept until a row changes, here or in another
    /// connection, instead of scanning every chunk record each time.
    public func usage() throws -> (cached: UInt64, dirty: UInt64) {
        try lock.withLock {
            let stamp = (try db.dataVersion(), db.totalChanges)
            if let memo = usageMemo, memo.version == stamp.0, memo.changes == stamp.1 { return memo.usage }
            let row = try db.query("""
                SELECT COALESCE(SUM(CASE WHEN cached = 1 THEN length END), 0),
                       COALESCE(SUM(CASE WHEN state != 'clean' THEN length END), 0) FROM chunks WHERE store = ?
                """, [.text(store)]).first ?? [.integer(0), .integer(0)]
            let usage = (cached: UInt64(row[0].int), dirty: UInt64(row[1].int))
            usageMemo = (stamp.0, stamp.1, usage)
            return usage
        }
    }
    /// The last usage() answer and the database's state when it was computed; under `lock`.
    private var usageMemo: (version: Int64, changes: Int64, usage: (cached: UInt64, dirty: UInt64))?

    private static func chunkRecord(_ row: [SQLiteValue]) -> ChunkRecord {
        var sha: [UInt8]? = nil
        if case .blob(let b) = row[5] { sha = b }
        var error: String? = nil
        if case .text(let e) = row[7] { error = e }
        return ChunkRecord(volume: row[0].text, number: Int(row[1].int), length: UInt64(row[2].int),
                           state: ChunkState(rawValue: row[3].text) ?? .dirty, cached: row[4].int != 0,
                           sha256: sha, lastUse: row[6].real, error: error)
    }

    // MARK: Counters

    /// Adds ledger deltas to the persistent counters, per volume ("" for requests of no volume),
    /// kind and day (YYYY-MM-DD, UTC), in one transaction.
    public func addCounts(_ batch: [(volume: String, kind: RequestKind, day: String, counts: RequestCounts)]) throws {
        try lock.withLock {
            try db.transaction {
                for (volume, kind, day, d) in batch {
                    try db.query("""
                        INSERT INTO counters (store, volume, kind, day, requests, bytes_up, bytes_down, retries, failures) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                        ON CONFLICT (store, volume, kind, day) DO UPDATE SET requests = requests + excluded.requests,
                            bytes_up = bytes_up + excluded.bytes_up, bytes_down = bytes_down + excluded.bytes_down,
                            retries = retries + excluded.retries, failures = failures + excluded.failures
                        """, [.text(store), .text(volume), .text(kind.rawValue), .text(day), .integer(Int64(d.total)),
                              .integer(Int64(d.bytesUp)), .integer(Int64(d.bytesDown)), .integer(Int64(d.retries)), .integer(Int64(d.failures))])
                }
            }
        }
    }

    /// Counters per volume ("" holds requests of no volume) and kind, from `sinceDay`
    /// (YYYY-MM-DD) on; all of them by default.
    public func countsByKind(sinceDay: String = "") throws -> [(volume: String, kind: RequestKind, counts: RequestCounts)] {
        try lock.withLock {
            try db.query("""
                SELECT volume, kind, SUM(requests), SUM(bytes_up), SUM(bytes_down), SUM(retries), SUM(failures)
                FROM counters WHERE store = ? AND day >= ? GROUP BY volume, kind ORDER BY volume, kind
                """, [.text(store), .text(sinceDay)]).compactMap { row in
                guard let kind = RequestKind(rawValue: row[1].text) else { return nil }
                var c = RequestCounts()
                c.requests[kind] = Int(row[2].int)
                c.bytesUp = UInt64(row[3].int); c.bytesDown = UInt64(row[4].int)
                c.retries = Int(row[5].int); c.failures = Int(row[6].int)
                return (row[0].text, kind, c)
            }
        }
    }

    /// How many of this store's chunk records are in each state.
    public func chunkStates() throws -> [ChunkState: Int] {
        try lock.withLock {
            var out: [ChunkState: Int] = [:]
            for row in try db.query("SELECT state, COUNT(*) FROM chunks WHERE store = ? GROUP BY state", [.text(store)]) {
                if let s = ChunkState(rawValue: row[0].text) { out[s] = Int(row[1].int) }
            }
            return out
        }
    }

    /// Counters per volume, all kinds together, from `sinceDay` (YYYY-MM-DD) on.
    public func counts(sinceDay: String = "") throws -> [String: RequestCounts] {
        var out: [String: RequestCounts] = [:]
        for c in try countsByKind(sinceDay: sinceDay) { out[c.volume] = (out[c.volume] ?? RequestCounts()) + c.counts }
        return out
    }
}

extension SQLiteValue {
    var int: Int64 { if case .integer(let v) = self { return v }; if case .real(let v) = self { return Int64(v) }; return 0 }
    var real: Double { if case .real(let v) = self { return v }; if case .integer(let v) = self { return Double(v) }; return 0 }
    var text: String { if case .text(let v) = self { return v }; return "" }
}
