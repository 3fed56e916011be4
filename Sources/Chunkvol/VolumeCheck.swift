// What an operator asks of a volume beyond the device calls: what is where (inspect), whether the
// manifest, the store's listing and the cache agree (verify), and putting right what can be put
// right (repair). Spec/cache.md lists the problems and what repair does about each.
import Foundation
import Platform
import ObjectStore
import ChunkCache
#if canImport(Glibc)
import Glibc
#endif

/// One chunk as the cache and the store see it.
public struct ChunkReport: Sendable, Equatable {
    public var number: Int
    /// The length the volume gives it (from the cache's record, else the manifest).
    public var length: UInt64
    /// Its state in the cache index; nil when the index holds no record of it.
    public var state: ChunkState?
    public var cached: Bool
    /// The SHA-256 it should have (the manifest's, else the index's), in hex.
    public var sha256: String?
    /// The size of its object on the store; nil when the store has none.
    public var storedSize: UInt64?
}

/// A volume as the cache, its manifest and the store's listing describe it.
public struct VolumeInspection: Sendable {
    public var name: String
    /// The cache index's record; nil when this cache does not know the volume.
    public var local: VolumeRecord?
    public var manifest: Manifest?
    /// Why there is no usable manifest (missing, not JSON, inconsistent), in words.
    public var manifestProblem: String?
    public var manifestMissing: Bool
    /// The volume's size and chunk size as the newest source has them (cache, manifest, listing).
    public var size: UInt64
    public var chunkSize: UInt64
    public var chunks: [ChunkReport]
    /// Chunk objects on the store past the volume's end, by number.
    public var orphans: [(number: Int, size: UInt64)]

    public var orphanNumbers: [Int] { orphans.map(\.number) }
}

/// One difference between what should be and what is.
public struct VolumeProblem: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case manifestMissing = "manifest-missing", manifestInvalid = "manifest-invalid"
        case manifestStale = "manifest-stale", manifestDiffers = "manifest-differs"
        case chunkMissing = "chunk-missing", chunkSize = "chunk-size", chunkChecksum = "chunk-checksum"
        case notUploaded = "not-uploaded", cacheSize = "cache-size", cacheChecksum = "cache-checksum"
        case orphan
    }
    public var kind: Kind
    public var chunk: Int?
    public var message: String
    public var description: String { message }
}

public struct VerifyReport: Sendable {
    public var inspection: VolumeInspection
    public var problems: [VolumeProblem]
    /// Bytes downloaded or read from the cache and hashed (with `data`).
    public var bytesHashed: UInt64
}

public struct RepairReport: Sendable {
    /// What repair did, one sentence each.
    public var actions: [String]
    /// What is still wrong afterwards (a second verify).
    public var remaining: [VolumeProblem]
}

/// One line of `chunkctl ls`: a volume on the store, in the cache, or both.
public struct VolumeListing: Sendable {
    public var name: String
    public var onStore: Bool
    public var inCache: Bool
    public var stat: VolumeStat?
    /// Why its figures could not be read (a damaged manifest, say).
    public var problem: String?
}

extension VolumeStore {
    /// Volumes on the store (by manifest, and by chunk folder for volumes that have none yet) and
    /// in the cache, each with its figures or the reason they could not be read.
    public func catalog() throws -> [VolumeListing] {
        let cached = Set(try indexed("list") { try cache.index.volumes() }.map(\.name))
        var stored = Set<String>()
        do {
            for o in try store.listAll(prefix: layout.manifestPrefix) where o.key.hasSuffix(".json") {
                stored.insert(String(o.key.dropFirst(layout.manifestPrefix.count).dropLast(5)))
            }
        } catch { throw VolumeError.from(error, "listing volumes") }
        return cached.union(stored).sorted().map { name in
            var entry = VolumeListing(name: name, onStore: stored.contains(name), inCache: cached.contains(name))
            do {
                try VolumeLayout.validate(name)
                entry.stat = try stat(name)
            } catch { entry.problem = "\(error)" }
            return entry
        }
    }

    /// What the cache, the manifest and the store's listing say of `name`. Changes nothing.
    public func inspect(_ name: String) throws -> VolumeInspection {
        try VolumeLayout.validate(name)
        let local = try indexed("inspect \(name)") { try cache.index.volume(name) }
        let records = Dictionary(try indexed("inspect \(name)") { try cache.index.chunks(of: name) }.map { ($0.number, $0) },
                                 uniquingKeysWith: { a, _ in a })
        var manifest: Manifest? = nil
        var manifestProblem: String? = nil
        var manifestMissing = false
        do {
            manifest = try loadManifest(name)
            if manifest == nil {
                manifestMissing = true
                manifestProblem = "volume \(name) has no manifest on the store (\(layout.manifestKey(name)))"
            }
        } catch let e as VolumeError where e.kind == .corrupt {
            manifestProblem = e.sentence
        } catch { throw VolumeError.from(error, "inspect \(name)") }
        var stored: [Int: UInt64] = [:]
        do {
            for o in try store.listAll(prefix: layout.chunkPrefix(name)) {
                if let n = layout.chunkNumber(o.key, volume: name) { stored[n] = o.size }
            }
        } catch { throw VolumeError.from(error, "inspect \(name)") }
        guard local != nil || manifest != nil || !stored.isEmpty || !manifestMissing else {
            throw VolumeError(.notFound, "no volume \(name) on \(store.name)")
        }

        var size: UInt64, chunkSize: UInt64
        if let local { size = local.size; chunkSize = local.chunkSize }
        else if let manifest { size = manifest.size; chunkSize = manifest.chunkSize }
        else {
            // Only the listing: chunks in order, all full but the last.
            let numbers = stored.keys.sorted()
            chunkSize = numbers.first.map { stored[$0]! } ?? configuration.chunkSize
            chunkSize = max(chunkSize, VolumeConfiguration.minChunkSize)
            size = 0
            for (i, n) in numbers.enumerated() where n == i { size += stored[n]! }
        }
        let count = VolumeLayout.chunkCount(size: size, chunkSize: chunkSize)
        // The manifest's checksums describe the chunks only when it is as new as the cache's record.
        let manifestCurrent = manifest != nil && (local == nil || manifest!.generation >= local!.generation)
        var chunks: [ChunkReport] = []
        for n in 0..<count {
            let length = n == count - 1 ? size - UInt64(n) * chunkSize : chunkSize
            let r = records[n]
            let fromManifest = manifestCurrent && n < manifest!.chunks.count ? manifest!.chunks[n].sha256 : nil
            let fromIndex = r?.sha256.map { $0.hex }
            chunks.append(ChunkReport(number: n, length: length, state: r?.state, cached: r?.cached ?? false,
                                      sha256: (r.map { $0.state != .clean } ?? false) ? nil : (fromManifest ?? fromIndex),
                                      storedSize: stored[n]))
        }
        let orphans = stored.filter { $0.key >= count }.sorted { $0.key < $1.key }.map { (number: $0.key, size: $0.value) }
        return VolumeInspection(name: name, local: local, manifest: manifest, manifestProblem: manifestProblem,
                                manifestMissing: manifestMissing, size: size, chunkSize: chunkSize, chunks: chunks, orphans: orphans)
    }

    /// Compares the manifest, the store's listing and the cache (sizes, chunk count, checksums);
    /// with `data`, downloads and hashes every chunk and hashes every clean cached chunk file.
    /// Changes nothing.
    public func verify(_ name: String, data: Bool = false) throws -> VerifyReport {
        let ins = try inspect(name)
        var problems: [VolumeProblem] = []
        var hashed: UInt64 = 0
        func add(_ kind: VolumeProblem.Kind, _ chunk: Int?, _ message: String) {
            problems.append(VolumeProblem(kind: kind, chunk: chunk, message: message))
        }
        if let why = ins.manifestProblem {
            add(ins.manifestMissing ? .manifestMissing : .manifestInvalid, nil, why)
        }
        if let m = ins.manifest, let local = ins.local {
            if local.storedGeneration != local.generation || m.generation < local.generation {
                add(.manifestStale, nil, "the manifest of volume \(name) describes generation \(m.generation), the cache holds \(local.generation): changes not yet flushed")
            } else if m.size != local.size || m.chunkSize != local.chunkSize {
                add(.manifestDiffers, nil, "the manifest of volume \(name) gives \(m.size) bytes in chunks of \(m.chunkSize), the cache \(local.size) in chunks of \(local.chunkSize)")
            }
        }
        for c in ins.chunks {
            let what = "volume \(name), chunk \(c.number) (\(layout.chunkKey(name, c.number)))"
            if let s = c.state, s != .clean {
                add(.notUploaded, c.number, "\(what): changed in the cache and not uploaded yet; flush sends it")
                continue
            }
            var storeGood = false
            if let size = c.storedSize {
                if size != c.length { add(.chunkSize, c.number, "\(what): the store holds \(size) bytes, the volume \(c.length)") }
                else { storeGood = true }
            } else {
                add(.chunkMissing, c.number, "\(what): missing on the store")
            }
            if c.cached {
                let path = cache.chunkPath(name, c.number)
                let onDisk = try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber
                // Longer is allowed: bytes past a record's length (unsynced writes before a crash, a
                // truncate's cut not yet made) are never read or sent.
                if (onDisk?.uint64Value ?? 0) < c.length || onDisk == nil {
                    add(.cacheSize, c.number, "\(what): the cache file \(path) is missing or shorter than \(c.length) bytes")
                } else if data, let want = c.sha256 {
                    let sum = try hashCacheFile(path, length: c.length, what: what)
                    hashed += c.length
                    if sum != want { add(.cacheChecksum, c.number, "\(what): the cache file was changed behind the index (its SHA-256 is not the volume's)") }
                }
            }
            if data && storeGood {
                guard let want = c.sha256 else { continue }
                let sum = try hashObject(name, c.number, length: c.length, what: what)
                hashed += c.length
                if sum != want { add(.chunkChecksum, c.number, "\(what): the bytes on the store are not the volume's (their SHA-256 is not the one the volume records)") }
            }
        }
        for o in ins.orphans {
            add(.orphan, o.number, "volume \(name): chunk object \(layout.chunkKey(name, o.number)) (\(o.size) bytes) lies past the volume's end")
        }
        return VerifyReport(inspection: ins, problems: problems, bytesHashed: hashed)
    }

    /// Puts right what can be put right: chunks missing or damaged on the store are uploaded again
    /// from the cache; a damaged cache copy is dropped when the store's is good; dirty chunks are
    /// sent; a missing or stale manifest is rewritten from the cache, or rebuilt from the listing
    /// (each chunk downloaded and hashed) when the cache does not know the volume; orphans are
    /// removed with `removeOrphans`. Dirty chunk files are never discarded. Holds the volume's
    /// writer lock throughout.
    public func repair(_ name: String, data: Bool = false, removeOrphans: Bool = false, timeout: Double = 3600) throws -> RepairReport {
        try VolumeLayout.validate(name)
        let lock = try takeLock(name, "repair \(name)")
        defer { withExtendedLifetime(lock) {} }
        let before = try verify(name, data: data)
        let ins = before.inspection
        var actions: [String] = []

        if ins.local == nil {
            if ins.manifest == nil {
                actions.append(try rebuildManifest(ins))
            } else {
                // Known from its manifest from now on; lost chunks stay reported.
                _ = try fetchVolume(name)
            }
        } else {
            for p in before.problems {
                guard let n = p.chunk else { continue }
                switch p.kind {
                case .chunkMissing, .chunkSize, .chunkChecksum:
                    guard let c = ins.chunks.first(where: { $0.number == n }), c.cached,
                          !before.problems.contains(where: { $0.chunk == n && ($0.kind == .cacheSize || $0.kind == .cacheChecksum) }) else { continue }
                    try indexed("repair \(name)") { try cache.index.mark(name, n, state: .dirty, error: nil) }
                    actions.append("chunk \(n): uploading the cache's copy again")
                case .cacheSize, .cacheChecksum:
                    guard var r = try indexed("repair \(name)", { try cache.index.chunk(name, n) }), r.state == .clean else { continue }
                    let storeBad = before.problems.contains { $0.chunk == n && [.chunkMissing, .chunkSize, .chunkChecksum].contains($0.kind) }
                    guard !storeBad else { continue }
                    r.cached = false
                    try indexed("repair \(name)") { try cache.index.save(r) }
                    cache.removeChunkFile(name, n)
                    filesChanged()
                    actions.append("chunk \(n): dropped the damaged cache copy; the store's copy is good and is read from now on")
                default: continue
                }
            }
            if before.problems.contains(where: { [.manifestMissing, .manifestInvalid, .manifestDiffers].contains($0.kind) }),
               var v = try indexed("repair \(name)", { try cache.index.volume(name) }) {
                // Written again by the flush below.
                v.storedGeneration = nil
                try indexed("repair \(name)") { try cache.index.save(v) }
                actions.append("the manifest: rewriting it from the cache")
            }
            let dirty = try indexed("repair \(name)") { try cache.index.chunks(of: name) }.filter { $0.state != .clean && $0.number < ins.chunks.count }
            if !dirty.isEmpty { actions.append("uploading \(dirty.count) dirty chunk(s): \(dirty.map { String($0.number) }.joined(separator: ", "))") }
            try flush([name], timeout: timeout)
        }
        if removeOrphans && !ins.orphans.isEmpty {
            do { try deleteKeys(ins.orphans.map { layout.chunkKey(name, $0.number) }) } catch { throw VolumeError.from(error, "repair \(name)") }
            for o in ins.orphans { actions.append("removed orphan chunk object \(layout.chunkKey(name, o.number))") }
        }
        let after = try verify(name, data: data)
        return RepairReport(actions: actions, remaining: after.problems)
    }

    /// A volume the cache does not know and whose manifest is gone or damaged: its chunks, in order
    /// from 0 and all full but the last, are downloaded and hashed, and a manifest is written.
    private func rebuildManifest(_ ins: VolumeInspection) throws -> String {
        let name = ins.name
        guard !ins.chunks.isEmpty, ins.chunks.allSatisfy({ $0.storedSize == $0.length }) else {
            throw VolumeError(.corrupt, "repair \(name): the manifest is gone and the chunks on the store do not form a volume "
                              + "(numbered from 0 without gaps, all \(ins.chunkSize) bytes but the last); nothing was changed")
        }
        var records: [ChunkRecord] = []
        for c in ins.chunks {
            let sum = try hashObject(name, c.number, length: c.length, what: "volume \(name), chunk \(c.number)")
            records.append(ChunkRecord(volume: name, number: c.number, length: c.length, state: .clean, cached: false,
                                       sha256: [UInt8](hex: sum)))
        }
        let record = VolumeRecord(name: name, chunkSize: ins.chunkSize, size: ins.size, generation: 1, storedGeneration: nil)
        try indexed("repair \(name)") {
            try cache.index.transaction {
                try cache.index.saveUnlocked(record)
                for r in records { try cache.index.saveUnlocked(r) }
            }
        }
        do { try writeManifest(name) } catch { throw VolumeError.from(error, "repair \(name): writing the manifest") }
        return "the manifest: rebuilt from the store's \(records.count) chunk(s), \(ins.size) bytes, each downloaded and hashed"
    }

    /// SHA-256 (hex) of a chunk object, downloaded into an unlinked file in the cache folder so a
    /// chunk of any size costs no memory.
    func hashObject(_ volume: String, _ number: Int, length: UInt64, what: String) throws -> String {
        let path = cache.storeFolder + "/.verify-\(getpid())-\(number)"
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw VolumeError(.io, "\(what): cannot create \(path): \(String(cString: strerror(errno)))") }
        unlink(path)
        defer { Glibc.close(fd) }
        do {
            let got = try store.get(layout.chunkKey(volume, number), range: nil, into: .file(descriptor: fd, offset: 0))
            return try ChunkHasher.hashFile(fd, length: got.length, kinds: []).sha256!.hex
        } catch { throw VolumeError.from(error, what) }
    }

    func hashCacheFile(_ path: String, length: UInt64, what: String) throws -> String {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw VolumeError(.io, "\(what): cannot read \(path): \(String(cString: strerror(errno)))") }
        defer { Glibc.close(fd) }
        return try ChunkHasher.hashFile(fd, length: length, kinds: []).sha256!.hex
    }
}
