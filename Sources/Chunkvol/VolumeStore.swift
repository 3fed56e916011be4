// The volume layer's store: one configured object store with its cache and transfer engine. It
// opens volumes, schedules uploads under the upload policy, writes manifests after the chunks they
// list, evicts clean chunks and holds writers back when dirty chunks fill the cache.
import Foundation
import Platform
import ObjectStore
import ChunkCache
import Transfer
#if canImport(Glibc)
import Glibc
#endif

public struct VolumeStat: Sendable, Equatable {
    public var name: String
    public var size: UInt64
    public var chunkSize: UInt64
    public var chunks: Int
    public var dirtyChunks: Int
    /// Seconds since 1970 of the last change known here.
    public var updatedAt: Double
}

/// How far a flush has come.
public struct FlushProgress: Sendable, Equatable {
    /// Dirty bytes when the flush began, and the part of them sent since.
    public var bytesTotal: UInt64
    public var bytesDone: UInt64
    public var chunksLeft: Int
}

/// How a volume is opened (the POSIX flags of open(2)).
public struct OpenMode: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public static let read = OpenMode(rawValue: 1)
    public static let write = OpenMode(rawValue: 2)
    public static let create = OpenMode(rawValue: 4)
    public static let exclusive = OpenMode(rawValue: 8)
    public static let truncate = OpenMode(rawValue: 16)
    public static let append = OpenMode(rawValue: 32)
    public static let readWrite: OpenMode = [.read, .write]
}

public final class VolumeStore: @unchecked Sendable {
    public let configuration: VolumeConfiguration
    public let stack: StoreStack
    public let cache: ChunkCache
    public let layout: VolumeLayout
    let engine: TransferEngine
    let counters: CounterRecorder
    var store: any ObjectStore { stack.store }

    /// Guards `activity`; waiters for uploads and downloads sleep on it.
    let state = NSCondition()
    /// In-memory state of volumes with work under way, by name.
    var activity: [String: VolumeActivity] = [:]
    /// Writer locks this store holds for volumes no handle has open but whose uploads (or manifest)
    /// it is sending: no other process writes or uploads them meanwhile. Guarded by `state`.
    var uploadLocks: [String: VolumeLock] = [:]
    /// What opening the store found and did that the operator must hear (adopted volume folders).
    var adoptionNotices: [String] = []
    /// Warnings for the operator: TLS verification off, a damaged index rebuilt, volumes adopted.
    public var warnings: [String] { stack.warnings + (cache.notice.map { [$0] } ?? []) + adoptionNotices }
    /// Grows whenever a chunk file is removed or replaced (eviction, a download installed): open
    /// handles then drop the descriptors they keep, which may name files no longer in the cache.
    private let epochLock = Mutex()
    /// Uploads that had to read their chunk file to hash it (sequential writes never should).
    private var hashedFromFile = 0
    var uploadsHashedFromFile: Int { epochLock.withLock { hashedFromFile } }
    private var epoch = 0
    var fileEpoch: Int { epochLock.withLock { epoch } }
    func filesChanged() { epochLock.withLock { epoch += 1 } }

    /// Opens the store the option string names, its cache folder and its engine. Dirty chunks left
    /// by an earlier process (a crash, a store that was away) are queued for upload at once, unless
    /// `recover` is false: tools that only look (status, ls, inspect, cost) change nothing.
    public convenience init(options text: String, environment: [String: String] = ProcessInfo.processInfo.environment,
                            recover: Bool = true) throws {
        let options: Options
        do { options = try Options(parsing: text) } catch { throw VolumeError.from(error, "options") }
        try self.init(options: options, environment: environment, recover: recover)
    }

    public init(options: Options, environment: [String: String] = ProcessInfo.processInfo.environment,
                recover: Bool = true) throws {
        do {
            configuration = try VolumeConfiguration(options: options, environment: environment)
            let ledger = RequestLedger()
            stack = try StoreStack.open(options: options, environment: environment, ledger: ledger)
            layout = VolumeLayout(prefix: configuration.prefix)
            cache = try ChunkCache(folder: configuration.cacheFolder,
                                   storeIdentity: stack.backend.name + " prefix " + configuration.prefix)
            engine = TransferEngine(workers: configuration.uploads)
            counters = CounterRecorder(index: cache.index, layout: layout)
            ledger.observe { [counters] kind, key, delta in counters.record(kind, key: key, delta) }
            // The embedded default needs no set-up: its folder is made on first use.
            if stack.backend is LocalStore { try stack.backend.createContainer() }
        } catch { throw VolumeError.from(error, "opening the store") }
        guard recover else { return }
        adoptVolumeFolders()
        recoverVolumes()
        resumeUploads()
    }

    /// Waits for queued transfers (at most `timeout` seconds), then stops the engine.
    /// Returns false when transfers were still running; their chunks stay dirty in the cache.
    @discardableResult
    public func close(timeout: Double = 600) -> Bool {
        let idle = engine.waitIdle(timeout: timeout)
        engine.shutdown()
        counters.persist()
        return idle
    }

    deinit { engine.shutdown(); counters.persist() }

    // MARK: Volumes

    public func open(_ name: String, mode: OpenMode) throws -> Volume {
        try VolumeLayout.validate(name)
        guard mode.contains(.read) || mode.contains(.write) else {
            throw VolumeError(.invalid, "open \(name): give read, write or both")
        }
        if !mode.contains(.write) && (mode.contains(.truncate) || mode.contains(.append)) {
            throw VolumeError(.invalid, "open \(name): truncate and append need write")
        }
        var lock: VolumeLock? = nil
        if mode.contains(.write) { lock = try takeLock(name, "open \(name)") }
        var record = try knownVolume(name)
        if record != nil && mode.contains(.create) && mode.contains(.exclusive) {
            throw VolumeError(.exists, "volume \(name) exists already (exclusive create)")
        }
        if record == nil {
            guard mode.contains(.create) else { throw VolumeError(.notFound, "no volume \(name) on \(store.name)") }
            let fresh = VolumeRecord(name: name, chunkSize: configuration.chunkSize, size: 0, generation: 1)
            try indexed("create \(name)") { try cache.index.save(fresh) }
            record = fresh
        }
        let volume = Volume(store: self, record: record!, mode: mode, lock: lock)
        if mode.contains(.write) {
            try volume.clipToSize()
            if mode.contains(.truncate) && record!.size > 0 { try volume.truncate(to: 0) }
        }
        return volume
    }

    /// Size and chunk counts of a volume (one manifest GET when it is not in the cache).
    public func stat(_ name: String) throws -> VolumeStat {
        try VolumeLayout.validate(name)
        guard let v = try knownVolume(name) else { throw VolumeError(.notFound, "no volume \(name) on \(store.name)") }
        let chunks = try indexed("stat \(name)") { try cache.index.chunks(of: name) }
        let count = v.chunkCount
        return VolumeStat(name: name, size: v.size, chunkSize: v.chunkSize, chunks: count,
                          dirtyChunks: chunks.filter { $0.state != .clean && $0.number < count }.count, updatedAt: v.updatedAt)
    }

    /// Volumes on the store (by their manifests) and in the cache whose figures can be read;
    /// `catalog()` also names the others and why.
    public func list() throws -> [VolumeStat] { try catalog().compactMap(\.stat) }

    /// Removes a volume from the store and the cache.
    public func remove(_ name: String) throws {
        try VolumeLayout.validate(name)
        let lock = try takeLock(name, "remove \(name)")
        defer { withExtendedLifetime(lock) {} }
        let known = try knownVolume(name)
        do {
            var keys = try store.listAll(prefix: layout.chunkPrefix(name)).map(\.key)
            keys.append(layout.manifestKey(name))
            try deleteKeys(keys)
        } catch { throw VolumeError.from(error, "remove \(name)") }
        try indexed("remove \(name)") { try cache.index.removeVolume(name) }
        cache.removeVolumeFiles(name)
        if known == nil { throw VolumeError(.notFound, "no volume \(name) on \(store.name)") }
    }

    /// The volume's writer lock: the one this store keeps while it uploads the volume, else a new one.
    func takeLock(_ name: String, _ what: String) throws -> VolumeLock {
        state.lock()
        let kept = uploadLocks.removeValue(forKey: name)
        state.unlock()
        if let kept { return kept }
        do { return try VolumeLock(cache: cache, volume: name) } catch { throw VolumeError.from(error, what) }
    }

    /// A writer closed: its lock stays with the store while the volume's uploads are under way.
    func keepLockWhileUploading(_ name: String, _ lock: VolumeLock) {
        state.lock()
        uploadLocks[name] = lock
        state.unlock()
        releaseIfIdle(name)
    }

    /// Lets the volume's lock go once nothing of it is queued or in flight and no handle has it.
    func releaseIfIdle(_ name: String) {
        state.lock()
        var released: VolumeLock? = nil
        if let a = activity[name], !(a.queued.isEmpty && a.inFlight.isEmpty) || a.writerOpen {
            // still busy
        } else {
            released = uploadLocks.removeValue(forKey: name)
        }
        state.unlock()
        withExtendedLifetime(released) {}
    }

    func deleteKeys(_ keys: [String]) throws {
        let batch = store.maxBatchDelete
        if batch == 0 { for k in keys { try store.delete(k) }; return }
        var start = 0
        while start < keys.count {
            let part = Array(keys[start..<min(keys.count, start + batch)])
            if let (key, error) = try store.delete(keys: part).first {
                throw VolumeError(.io, "cannot remove \(key): \(error)")
            }
            start += part.count
        }
    }

    /// The volume's record from the index, or from its manifest (or listing) on the store.
    func knownVolume(_ name: String) throws -> VolumeRecord? {
        if let v = try indexed("open \(name)", { try cache.index.volume(name) }) { return v }
        return try fetchVolume(name)
    }

    /// The volume's manifest on the store; nil when it has none. One that is not valid is a
    /// `corrupt` VolumeError naming the cause; other store errors pass through.
    func loadManifest(_ name: String) throws -> Manifest? {
        let bytes: [UInt8]
        do { bytes = try store.get(layout.manifestKey(name), range: nil, into: .memory).bytes } catch let e as StoreError where e.kind == .notFound {
            return nil
        }
        return try Manifest.decode(bytes, volume: name)
    }

    /// Reads a volume the cache does not know: its manifest (one GET), else a listing of its chunks
    /// (volumes written without chunkvol, such as Bareos droplet's). Records it in the index, clean.
    func fetchVolume(_ name: String) throws -> VolumeRecord? {
        var chunks: [ChunkRecord] = []
        var record: VolumeRecord
        do {
          if let m = try loadManifest(name) {
            record = VolumeRecord(name: name, chunkSize: m.chunkSize, size: m.size, generation: m.generation, storedGeneration: m.generation)
            chunks = m.chunks.map { ChunkRecord(volume: name, number: $0.number, length: $0.length, state: .clean,
                                                 cached: false, sha256: [UInt8](hex: $0.sha256)) }
          } else {
            let objects: [ObjectInfo]
            do { objects = try store.listAll(prefix: layout.chunkPrefix(name)) } catch { throw VolumeError.from(error, "open \(name)") }
            let numbered = objects.compactMap { o in layout.chunkNumber(o.key, volume: name).map { ($0, o.size) } }.sorted { $0.0 < $1.0 }
            guard !numbered.isEmpty else { return nil }
            for (i, (n, _)) in numbered.enumerated() where n != i {
                throw VolumeError(.corrupt, "volume \(name) has no manifest and its chunk \(layout.chunkKey(name, i)) is missing")
            }
            let chunkSize = numbered.count > 1 ? numbered[0].1 : max(numbered[0].1, VolumeConfiguration.minChunkSize)
            for (n, size) in numbered.dropLast() where size != chunkSize {
                throw VolumeError(.corrupt, "volume \(name) has no manifest and chunk \(n) holds \(size) bytes, not \(chunkSize)")
            }
            let size = numbered.map(\.1).reduce(0, +)
            record = VolumeRecord(name: name, chunkSize: chunkSize, size: size, generation: 1, storedGeneration: nil)
            chunks = numbered.map { ChunkRecord(volume: name, number: $0.0, length: $0.1, state: .clean, cached: false) }
          }
        } catch { throw VolumeError.from(error, "open \(name)") }
        try indexed("open \(name)") {
            try cache.index.transaction {
                try cache.index.saveUnlocked(record)
                for c in chunks { try cache.index.saveUnlocked(c) }
            }
        }
        return record
    }

    func indexed<T>(_ what: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as VolumeError { throw e } catch {
            throw VolumeError(.io, "\(what): the cache index failed: \(error)")
        }
    }

    // MARK: Uploads

    /// After a crash a volume may have chunks past its recorded size (uploaded or written before the
    /// size was synced): they are not part of it. Their objects, records and files go, so the store
    /// holds exactly the volume and the chunks concatenated are it. Volumes open for writing elsewhere
    /// are left to their writer.
    func recoverVolumes() {
        guard let volumes = try? cache.index.volumes() else { return }
        for v in volumes {
            let count = v.chunkCount
            guard let chunks = try? cache.index.chunks(of: v.name) else { continue }
            let lastLength = count == 0 ? 0 : v.size - UInt64(count - 1) * v.chunkSize
            let lastWrong = chunks.first(where: { $0.number == count - 1 }).map { $0.length != lastLength } ?? false
            guard lastWrong || chunks.contains(where: { $0.number >= count }) else { continue }
            guard let lock = try? VolumeLock(cache: cache, volume: v.name, patient: false) else { continue }
            do {
                _ = try clipToSize(v, chunks: chunks)
                var record = v
                record.generation += 1
                try cache.index.save(record)
            } catch {
                // The index failed: the next open tries again; reads use the recorded size.
            }
            withExtendedLifetime(lock) {}
        }
    }

    /// Makes a volume's cache match its recorded size (the caller holds the volume's lock): chunks
    /// past the end go, records, files and objects (when the store cannot be reached their records
    /// stay, dirty and never read, for the next open); the last chunk's record and file are cut to
    /// its length. Returns the last chunk's record when it changed.
    func clipToSize(_ v: VolumeRecord, chunks: [ChunkRecord]) throws -> ChunkRecord? {
        let count = v.chunkCount
        let beyond = chunks.filter { $0.number >= count }.map(\.number)
        if !beyond.isEmpty {
            // Dirty before their objects go: never a clean record whose object is gone.
            for n in beyond { try indexed("open \(v.name)") { try cache.index.mark(v.name, n, state: .dirty, error: nil) } }
            try? dropChunks(v.name, beyond, from: count)
        }
        guard count > 0, var last = chunks.first(where: { $0.number == count - 1 }) else { return nil }
        let expected = v.size - UInt64(count - 1) * v.chunkSize
        if last.cached, last.length != expected || last.state != .clean {
            // Bytes past the end (an unsynced life before a crash) are cut off the file.
            let path = cache.chunkPath(v.name, count - 1)
            let onDisk = (try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? NSNumber
            if let onDisk, onDisk.uint64Value > expected { Glibc.truncate(path, off_t(expected)) }
        }
        guard last.length != expected else { return nil }
        state.lock()
        bumpLocked(v.name, count - 1)
        state.unlock()
        last.length = expected
        last.state = .dirty
        last.sha256 = nil
        try indexed("open \(v.name)") { try cache.index.save(last) }
        return last
    }

    /// Removes chunks `numbers` (all past the volume's end, `count` chunks) from the cache and the
    /// store: files, then objects, then records. They must not be clean in the index any more.
    /// When the store fails, the records stay for the next open (recoverVolumes) and this throws.
    func dropChunks(_ name: String, _ numbers: [Int], from count: Int) throws {
        for n in numbers { cache.removeChunkFile(name, n) }
        try deleteKeys(numbers.map { layout.chunkKey(name, $0) })
        CrashPoint.reach("truncate.deleted")
        try indexed("\(name): removing chunks past the end") { try cache.index.removeChunks(name, from: count) }
    }

    /// Queues every dirty chunk of the store's volumes (at open: what a crash or an outage left),
    /// with the volume's lock held until they are sent. A volume whose lock another process holds
    /// is its writer's to send, and left alone (its uploads may be under way there).
    func resumeUploads() {
        guard let volumes = try? cache.index.volumesWithUnsentChunks(), !volumes.isEmpty else { return }
        for volume in volumes {
            guard let v = try? cache.index.volume(volume),
                  let lock = try? VolumeLock(cache: cache, volume: volume, patient: false) else { continue }
            // Ours now: uploads that were under way when a process died are dirty again.
            _ = try? cache.index.resetInterruptedUploads(volume: volume)
            guard let dirty = try? cache.index.chunks(of: volume).filter({ $0.state == .dirty && $0.number < v.chunkCount }) else { continue }
            state.lock()
            activity[volume, default: VolumeActivity()].manifestWanted = true
            uploadLocks[volume] = lock
            state.unlock()
            for c in dirty { queueUpload(volume, c.number, length: c.length) }
            // A volume with nothing left to send may still need its manifest.
            maybeWriteManifest(volume)
            releaseIfIdle(volume)
        }
    }

    /// Waits (the state lock held) until no upload of the chunk is in flight.
    func waitForUploadLocked(_ volume: String, _ number: Int) {
        while activity[volume]?.inFlight.contains(number) == true { state.wait() }
    }

    /// A new version of the chunk (the state lock held): uploads queued for older ones are skipped.
    func bumpLocked(_ volume: String, _ number: Int) {
        activity[volume, default: VolumeActivity()].version[number, default: 0] += 1
        activity[volume]?.downloadedVerified.remove(number)
    }

    /// A chunk's bytes change other than by an append (the state lock held): a new version, and the
    /// checksums kept for it while it was written in order are no longer its.
    func invalidateLocked(_ volume: String, _ number: Int) {
        bumpLocked(volume, number)
        activity[volume]?.hashers.removeValue(forKey: number)
    }

    /// Queues chunk `number` of `volume` for upload at its current version.
    func queueUpload(_ volume: String, _ number: Int, length: UInt64) {
        state.lock()
        var a = activity[volume] ?? VolumeActivity()
        guard !a.queued.contains(number) else { state.unlock(); return }
        let version = a.version[number] ?? 0
        if a.inFlight.contains(number) {
            // Never two uploads of one chunk at once: their PUTs could land in either order. The
            // length belongs to this version; if the chunk changes again the job will see it.
            a.again[number] = (length, version)
            activity[volume] = a
            state.unlock()
            return
        }
        a.queued.insert(number)
        activity[volume] = a
        state.unlock()
        engine.submit { [self] in upload(volume, number, length: length, version: version) }
    }

    /// Queues an upload of exactly this length and version (a chunk queued again while in flight).
    private func requeue(_ volume: String, _ number: Int, length: UInt64, version: Int) {
        state.lock()
        activity[volume, default: VolumeActivity()].queued.insert(number)
        state.unlock()
        engine.submit { [self] in upload(volume, number, length: length, version: version) }
    }

    private func upload(_ volume: String, _ number: Int, length: UInt64, version: Int) {
        state.lock()
        activity[volume]?.queued.remove(number)
        let current = activity[volume]?.version[number] ?? 0
        // The writer feeds the hasher under this lock: finish it under the lock too.
        var known: Checksums? = nil
        if let h = activity[volume]?.hashers[number], h.version == version {
            known = h.sums(length: length, kinds: store.checksumKinds)
        }
        // Stored at this very version already (queued again just as its upload finished): skip.
        if activity[volume]?.cleanVersion[number] == version, current == version,
           (try? cache.index.chunk(volume, number))??.state == .clean {
            state.broadcast()
            state.unlock()
            // This may have been the volume's last job: its manifest must not wait for another.
            maybeWriteManifest(volume)
            return
        }
        activity[volume]?.inFlight.insert(number)
        state.unlock()
        var failure: String? = nil
        var sha: [UInt8]? = nil
        defer {
            state.lock()
            activity[volume]?.inFlight.remove(number)
            if let failure { activity[volume]?.failures[number] = failure } else { activity[volume]?.failures.removeValue(forKey: number) }
            var again = activity[volume]?.again.removeValue(forKey: number)
            // Queued again for the very version this upload just stored: nothing more to send.
            if let a = again, failure == nil, activity[volume]?.cleanVersion[number] == a.version { again = nil }
            state.broadcast()
            state.unlock()
            if let again, failure == nil { requeue(volume, number, length: again.length, version: again.version) }
            evictIfNeeded()
            if failure == nil { maybeWriteManifest(volume) }
            releaseIfIdle(volume)
        }
        guard current == version else { return }   // rewritten since it was queued: a newer upload follows
        let what = "upload of chunk \(number) of volume \(volume)"
        do {
            let fd = try cache.openChunk(volume, number, create: false)
            defer { Glibc.close(fd) }
            if known == nil { epochLock.withLock { hashedFromFile += 1 } }
            let checksums = try known ?? ChunkHasher.hashFile(fd, length: length, kinds: store.checksumKinds)
            sha = checksums.sha256
            // Only state and error: the record's length is the writer's, and may be newer than this job.
            try cache.index.mark(volume, number, state: .uploading, error: nil)
            CrashPoint.reach("upload.marked-uploading")
            _ = try store.put(layout.chunkKey(volume, number), body: .file(descriptor: fd, offset: 0, length: length),
                              checksums: Checksums(sha256: store.checksumKinds.contains(.sha256) ? checksums.sha256 : nil,
                                                   md5: store.checksumKinds.contains(.md5) ? checksums.md5 : nil))
            CrashPoint.reach("upload.after-put")
            // Under the state lock, so a writer's sync sees either the old state or this one.
            state.lock()
            defer { state.unlock() }
            if (activity[volume]?.version[number] ?? 0) == version {
                activity[volume]?.hashers.removeValue(forKey: number)
                activity[volume]?.cleanVersion[number] = version
                try cache.index.save(ChunkRecord(volume: volume, number: number, length: length, state: .clean,
                                                 cached: true, sha256: sha))
            } else {
                try cache.index.mark(volume, number, state: .dirty, error: nil)
            }
        } catch {
            failure = "\(what) failed: \(error)"
            try? cache.index.mark(volume, number, state: .dirty, error: failure)
        }
    }

    /// Writes the manifest when the volume asked for one and has nothing dirty left to send.
    func maybeWriteManifest(_ volume: String) {
        state.lock()
        let a = activity[volume]
        let ready = a?.manifestWanted == true && a?.queued.isEmpty == true && a?.inFlight.isEmpty == true && a?.writerOpen != true
        if ready { activity[volume]?.manifestWanted = false }
        state.unlock()
        guard ready else { return }
        do {
            if try !writeManifest(volume) {
                // A chunk is not clean yet (its upload is about to be queued): the manifest waits
                // for that upload, whose end calls here again.
                state.lock(); activity[volume]?.manifestWanted = true; state.unlock()
            }
        } catch {
            state.lock(); activity[volume]?.manifestError = "\(error)"; state.broadcast(); state.unlock()
        }
    }

    /// One manifest write per volume at a time (an upload's end, flush, repair): two PUTs of one
    /// manifest in flight could land in either order and leave an older generation on the store than
    /// the index records as stored.
    private let manifestLocksLock = Mutex()
    private var manifestLocks: [String: NSLock] = [:]
    private func manifestLock(_ volume: String) -> NSLock {
        manifestLocksLock.withLock {
            if let l = manifestLocks[volume] { return l }
            let l = NSLock()
            manifestLocks[volume] = l
            return l
        }
    }

    /// PUTs the manifest of `volume` if every chunk is clean and the manifest on the store is older.
    /// Returns false when a chunk is not clean yet (nothing written); true when the store's manifest
    /// is current (written now, or already).
    @discardableResult
    func writeManifest(_ volume: String) throws -> Bool {
        let lock = manifestLock(volume)
        lock.lock()
        defer { lock.unlock() }
        guard let v = try cache.index.volume(volume) else { return true }
        guard v.storedGeneration != v.generation else { return true }
        let count = v.chunkCount
        let chunks = try cache.index.chunks(of: volume).filter { $0.number < count }
        guard chunks.count == count, chunks.allSatisfy({ $0.state == .clean && $0.sha256 != nil }) else { return false }
        let formatter = ISO8601DateFormatter()
        let m = Manifest(volume: volume, chunkSize: v.chunkSize, size: v.size, chunkCount: count, generation: v.generation,
                         updated: formatter.string(from: Date(timeIntervalSince1970: v.updatedAt)),
                         chunks: chunks.map { .init(number: $0.number, length: $0.length, sha256: $0.sha256!.hex) })
        let bytes = m.encoded()
        _ = try store.put(layout.manifestKey(volume), body: .bytes(bytes), checksums: Checksums(sha256: Digest.sha256(bytes), md5: Digest.md5(bytes)))
        CrashPoint.reach("manifest.after-put")
        try cache.index.transaction {
            guard var now = try cache.index.volumeUnlocked(volume), now.generation == v.generation else { return }
            now.storedGeneration = v.generation
            try cache.index.saveUnlocked(now)
        }
        return true
    }

    /// Uploads every dirty chunk of `volumes` (all when empty), waits for them and writes the
    /// manifests. Throws naming each chunk that could not be uploaded, or on timeout. `progress`
    /// hears about twice a second how many of the dirty bytes found at the start are sent.
    /// Volumes that another process has open for writing are its to send: named in the error when
    /// asked for by name, skipped and returned when flushing all.
    @discardableResult
    public func flush(_ volumes: [String] = [], timeout: Double, progress: ((FlushProgress) -> Void)? = nil) throws -> [String] {
        let deadline = Date().addingTimeInterval(timeout)
        var names = volumes
        if names.isEmpty { names = try indexed("flush") { try cache.index.volumes() }.map(\.name) }
        // The writer lock of each volume no handle or upload queue of ours holds, for the flush.
        var busy: [String] = []
        for name in names where !VolumeLock.isHeldHere(cache: cache, volume: name) {
            do {
                let lock = try VolumeLock(cache: cache, volume: name, patient: false)
                _ = try? cache.index.resetInterruptedUploads(volume: name)
                state.lock(); uploadLocks[name] = lock; state.unlock()
            } catch { busy.append("\(error)") }
        }
        if !busy.isEmpty && !volumes.isEmpty {
            for name in names { releaseIfIdle(name) }
            throw VolumeError(.busy, "flush: " + busy.joined(separator: "; "))
        }
        names = names.filter { VolumeLock.isHeldHere(cache: cache, volume: $0) }
        defer { for name in names { releaseIfIdle(name) } }
        for name in names {
            state.lock()
            activity[name, default: VolumeActivity()].failures.removeAll()
            state.unlock()
        }
        var failures: [String] = []
        var total: UInt64? = nil
        /// Dirty chunks of `names` still to send: their count and bytes.
        func dirtyChunks() throws -> [(String, ChunkRecord)] {
            var out: [(String, ChunkRecord)] = []
            for name in names {
                guard let v = try indexed("flush \(name)", { try cache.index.volume(name) }) else {
                    throw VolumeError(.notFound, "flush: no volume \(name) in the cache")
                }
                let count = v.chunkCount
                for c in try indexed("flush \(name)", { try cache.index.chunks(of: name) }) where c.state != .clean && c.number < count {
                    out.append((name, c))
                }
            }
            return out
        }
        func report() {
            guard let progress, let total, let left = try? dirtyChunks() else { return }
            let leftBytes = left.reduce(UInt64(0)) { $0 + $1.1.length }
            progress(FlushProgress(bytesTotal: total, bytesDone: total > leftBytes ? total - leftBytes : 0, chunksLeft: left.count))
        }
        // Rounds until every chunk is clean: a chunk rewritten while it was uploading is dirty again.
        while true {
            let dirty = try dirtyChunks()
            if total == nil { total = dirty.reduce(UInt64(0)) { $0 + $1.1.length } }
            if dirty.isEmpty { break }
            for (name, c) in dirty { queueUpload(name, c.number, length: c.length) }
            var lastReport = Date()
            state.lock()
            while names.contains(where: { n in activity[n].map { !($0.queued.isEmpty && $0.inFlight.isEmpty) } ?? false }),
                  Date() < deadline {
                _ = state.wait(until: min(deadline, Date().addingTimeInterval(0.5)))
                if progress != nil, Date().timeIntervalSince(lastReport) >= 0.5 {
                    state.unlock(); report(); state.lock()
                    lastReport = Date()
                }
            }
            failures = names.flatMap { name in (activity[name]?.failures ?? [:]).sorted { $0.key < $1.key }.map(\.value) }
            let pending = names.reduce(0) { $0 + (activity[$1].map { $0.queued.count + $0.inFlight.count } ?? 0) }
            let detail = names.map { n in "\(n): queued \(activity[n]?.queued.sorted() ?? []), in flight \(activity[n]?.inFlight.sorted() ?? []), engine \(engine.pending)" }.joined(separator: "; ")
            state.unlock()
            if !failures.isEmpty { throw VolumeError(.io, failures.joined(separator: "; ")) }
            if pending > 0 || Date() >= deadline {
                throw VolumeError(.timedOut, "flush: chunk uploads still under way after \(Int(timeout)) s (\(detail)); they stay dirty in the cache")
            }
        }
        for name in names {
            do { try writeManifest(name) } catch { throw VolumeError.from(error, "flush: the manifest of \(name)") }
        }
        report()
        return busy
    }

    // MARK: Downloads

    /// Brings chunk `number` whole into the cache (or waits for a download already under way),
    /// checks it against the SHA-256 the manifest or the index holds, and records it cached.
    /// A mismatch is an error naming the volume and chunk, never data.
    func fetchChunk(_ volume: String, _ number: Int, record: ChunkRecord) throws -> ChunkRecord {
        state.lock()
        while activity[volume]?.downloading.contains(number) == true { state.wait() }
        if let now = try? cache.index.chunk(volume, number), now.cached {
            state.unlock()
            return now
        }
        activity[volume, default: VolumeActivity()].downloading.insert(number)
        state.unlock()
        var finished = false
        defer {
            if !finished {
                state.lock()
                activity[volume]?.downloading.remove(number)
                state.broadcast()
                state.unlock()
            }
        }
        let what = "download of chunk \(number) of volume \(volume)"
        // A read never waits for room: what it brings is clean, and evicted again when over the limit.
        evictIfNeeded()
        let final = cache.chunkPath(volume, number)
        let temp = final + ".download"
        let fd: Int32
        do {
            try ChunkCache.makePrivateFolder(cache.volumeFolder(volume))
            fd = Glibc.open(temp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw CacheError("cannot create \(temp): \(String(cString: strerror(errno)))", errno: errno) }
        } catch { throw VolumeError.from(error, what) }
        defer { Glibc.close(fd) }
        do {
            let got = try store.get(layout.chunkKey(volume, number), range: nil, into: .file(descriptor: fd, offset: 0))
            guard got.length == record.length else {
                throw VolumeError(.corrupt, "\(what): the store holds \(got.length) bytes, the volume records \(record.length)")
            }
            let sums = try ChunkHasher.hashFile(fd, length: got.length, kinds: [])
            if let expected = record.sha256, sums.sha256 != expected {
                throw VolumeError(.corrupt, "\(what): its SHA-256 does not match the manifest; the object on the store was changed or damaged")
            }
            // Installed under the state lock: a writer that created the chunk meanwhile wins.
            state.lock()
            defer {
                activity[volume]?.downloading.remove(number)
                finished = true
                state.broadcast()
                state.unlock()
            }
            // Recorded cached only if nothing has it yet (a writer here or in another process may
            // have claimed it), then put in place.
            let now = Date().timeIntervalSince1970
            guard try cache.index.installIfUncached(volume, number, sha256: sums.sha256!, lastUse: now) else {
                unlink(temp)
                if let current = try cache.index.chunk(volume, number), current.cached { return current }
                throw VolumeError(.io, "\(what): the chunk changed in the cache while it was downloaded; read again")
            }
            guard rename(temp, final) == 0 else { throw CacheError("cannot install \(final): \(String(cString: strerror(errno)))", errno: errno) }
            filesChanged()
            // Hashed as it came down: the next reader need not hash the file again (read-ahead).
            activity[volume]?.downloadedVerified.insert(number)
            var rec = record
            rec.cached = true
            rec.sha256 = sums.sha256
            rec.lastUse = now
            return rec
        } catch {
            unlink(temp)
            throw VolumeError.from(error, what)
        }
    }

    /// A ranged GET for a small random read; nothing is cached. Checked for length only.
    func fetchRange(_ volume: String, _ number: Int, first: UInt64, count: UInt64, expectedLength: UInt64) throws -> [UInt8] {
        do {
            let got = try store.get(layout.chunkKey(volume, number), range: ByteRange(first, first + count - 1), into: .memory)
            guard got.info.size == expectedLength else {
                throw VolumeError(.corrupt, "read of volume \(volume), chunk \(number): the store holds \(got.info.size) bytes, the volume records \(expectedLength)")
            }
            return got.bytes
        } catch { throw VolumeError.from(error, "read of volume \(volume), chunk \(number)") }
    }

    /// True once, for the first reader of a chunk this process downloaded and checked (see
    /// VolumeActivity.downloadedVerified); its file then need not be hashed again before reading.
    func takeDownloadedVerified(_ volume: String, _ number: Int) -> Bool {
        state.lock()
        defer { state.unlock() }
        return activity[volume]?.downloadedVerified.remove(number) != nil
    }

    /// Read-ahead: downloads chunk `number` in the background if nothing has it yet.
    func prefetch(_ volume: String, _ number: Int) {
        guard let rec = try? cache.index.chunk(volume, number), !rec.cached, rec.state == .clean else { return }
        state.lock()
        let busy = activity[volume]?.downloading.contains(number) == true
        state.unlock()
        guard !busy else { return }
        engine.submit { [self] in
            _ = try? fetchChunk(volume, number, record: rec)
            evictIfNeeded()
        }
    }

    // MARK: Space

    /// Evicts clean cached chunks, least recently used first, until the cache fits its limit.
    func evictIfNeeded() {
        guard let usage = try? cache.index.usage(), usage.cached > configuration.cacheSize else { return }
        var over = usage.cached - configuration.cacheSize
        // Under the state lock: a writer turning a clean chunk dirty does so under it too.
        state.lock()
        defer { state.unlock() }
        guard let clean = try? cache.index.chunks(in: [.clean]) else { return }
        for c in clean where c.cached && over > 0 && activity[c.volume]?.downloading.contains(c.number) != true {
            guard (try? evictLocked(c)) == true else { continue }
            over = over > c.length ? over - c.length : 0
        }
    }

    /// Drops one clean chunk's file (the state lock held). Only if it is still clean: a writer in
    /// another process may have made it dirty since it was listed. Returns whether it was dropped.
    private func evictLocked(_ c: ChunkRecord) throws -> Bool {
        guard try cache.index.evictIfClean(c.volume, c.number) else { return false }
        cache.removeChunkFile(c.volume, c.number)
        activity[c.volume]?.downloadedVerified.remove(c.number)
        filesChanged()
        return true
    }

    /// Drops the clean chunks of `volumes` (all when empty) from the cache; never a dirty one.
    /// Returns the bytes freed.
    @discardableResult
    public func evict(_ volumes: [String] = []) throws -> UInt64 {
        state.lock()
        defer { state.unlock() }
        let clean = try indexed("evict") { try cache.index.chunks(in: [.clean]) }
        var freed: UInt64 = 0
        for c in clean where c.cached && (volumes.isEmpty || volumes.contains(c.volume)) {
            guard try indexed("evict", { try evictLocked(c) }) else { continue }
            freed += c.length
        }
        return freed
    }

    /// Blocks a writer while dirty chunks fill the cache, until uploads free room or the timeout.
    /// The dirty chunks may be other processes' (the cache is shared): their uploads free room too,
    /// so only `upload=manual` with nothing running here fails at once.
    func waitForSpace(adding bytes: UInt64, volume: String) throws {
        let deadline = Date().addingTimeInterval(configuration.spaceTimeout)
        while true {
            guard let usage = try? cache.index.usage() else { return }
            if usage.dirty + bytes <= configuration.cacheSize { return }
            evictIfNeeded()
            state.lock()
            let idle = activity.values.allSatisfy { $0.queued.isEmpty && $0.inFlight.isEmpty }
            let hopeless = idle && configuration.policy == .manual
            // Uploads here wake us; other processes' uploads do not, so look again now and then.
            let waited = hopeless ? false : state.wait(until: min(deadline, Date().addingTimeInterval(idle ? 0.2 : 1)))
            state.unlock()
            if hopeless || (!waited && Date() >= deadline) {
                throw VolumeError(.noSpace, "volume \(volume): dirty chunks fill the cache (cachesize=\(Options.formatSize(configuration.cacheSize)))"
                                  + (hopeless ? " and no upload is running (upload=manual)" : " and uploads did not free room within \(Int(configuration.spaceTimeout)) s (is the store failing?)")
                                  + "; flush, raise cachesize= or check the store")
            }
        }
    }

    /// The requests this store made since it was opened, by kind.
    public var requestCounts: RequestCounts { stack.ledger.snapshot }
}

/// What is under way for one volume, in memory; guarded by `VolumeStore.state`.
struct VolumeActivity {
    /// Bumped by every write into a chunk: an upload of an older version does not make it clean.
    var version: [Int: Int] = [:]
    var queued: Set<Int> = []
    var inFlight: Set<Int> = []
    /// The last upload failure of each chunk that has one.
    var failures: [Int: String] = [:]
    var manifestWanted = false
    var manifestError: String?
    var writerOpen = false
    /// Checksums computed as sequential writes arrived, by chunk.
    var hashers: [Int: ChunkHasher] = [:]
    /// The version of each chunk that an upload made clean.
    var cleanVersion: [Int: Int] = [:]
    /// Whole-chunk downloads under way.
    var downloading: Set<Int> = []
    /// Chunks this process downloaded, hashed against the manifest and installed, whose file no
    /// reading handle has taken yet (read-ahead): the first to read one skips hashing it again.
    var downloadedVerified: Set<Int> = []
    /// Chunks queued again while an upload of them was in flight, with their length.
    var again: [Int: (length: UInt64, version: Int)] = [:]
}
