// An open volume: the file-like device (Spec/device.md). Offsets map to chunk n = offset / chunk
// size; bytes go to chunk files in the cache; full chunks are queued for upload under the policy.
// One handle is used by one thread at a time; different handles may be used at once.
import Foundation
import Platform
import ObjectStore
import ChunkCache
#if canImport(Glibc)
import Glibc
#endif

public final class Volume: @unchecked Sendable {
    public enum Whence: Sendable { case set, current, end }

    public let name: String
    public let mode: OpenMode
    private let store: VolumeStore
    private var lock: VolumeLock?
    private var record: VolumeRecord
    /// Chunk records as this handle knows them (loaded at open, kept current by its own writes).
    private var chunks: [Int: ChunkRecord] = [:]
    /// Chunks written since the last sync, and whether a chunk file was created.
    private var touched: Set<Int> = []
    /// Clean cached chunks whose file this handle has checked against the recorded SHA-256: a file
    /// changed behind the index is an error, never data.
    private var verified: Set<Int> = []
    /// The size changed since the last sync (a truncate may touch no chunk).
    private var resized = false
    private var createdFiles = false
    private var files: [Int: Int32] = [:]
    /// The store's file epoch when `files` was last checked.
    private var filesEpoch = 0
    private var closed = false
    /// End of the last read, to tell sequential reads from random ones; the read-ahead window.
    private var lastReadEnd: UInt64? = nil
    private var window = 1

    public private(set) var position: UInt64 = 0
    public var size: UInt64 { record.size }
    public var chunkSize: UInt64 { record.chunkSize }
    private var cs: UInt64 { record.chunkSize }
    private var chunkCount: Int { record.chunkCount }

    init(store: VolumeStore, record: VolumeRecord, mode: OpenMode, lock: VolumeLock?) {
        self.store = store; self.record = record; self.mode = mode; self.lock = lock; self.name = record.name
        for c in (try? store.cache.index.chunks(of: record.name)) ?? [] { chunks[c.number] = c }
        if mode.contains(.write) {
            store.state.lock()
            store.activity[name, default: VolumeActivity()].writerOpen = true
            store.state.unlock()
        }
    }

    deinit {
        if !closed { try? close() }
    }

    private func checkOpen(_ what: String, write: Bool = false, read: Bool = false) throws {
        if closed { throw VolumeError(.badHandle, "\(what) on volume \(name): the handle is closed") }
        if write && !mode.contains(.write) { throw VolumeError(.badHandle, "\(what) on volume \(name): it is open read-only") }
        if read && !mode.contains(.read) { throw VolumeError(.badHandle, "\(what) on volume \(name): it is open write-only") }
    }

    // MARK: Position

    @discardableResult
    public func seek(_ offset: Int64, from whence: Whence = .set) throws -> UInt64 {
        try checkOpen("seek")
        let base: Int64
        switch whence {
        case .set: base = 0
        case .current: base = Int64(position)
        case .end: base = Int64(record.size)
        }
        let (target, overflow) = base.addingReportingOverflow(offset)
        guard !overflow, target >= 0 else { throw VolumeError(.invalid, "seek on volume \(name) to a negative offset") }
        position = UInt64(target)
        return position
    }

    // MARK: Reading

    /// Reads up to `buffer.count` bytes at the position; 0 at or past the end.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try checkOpen("read", read: true)
        refreshForReader()
        var done = 0
        var retries = 0
        // A read from the start (a restore, a label check) is taken as the start of a sequential run.
        let sequential = lastReadEnd == position || position == 0
        while done < buffer.count && position < record.size {
            let n = Int(position / cs)
            let offset = position % cs
            let want = Int(min(UInt64(buffer.count - done), record.size - position, cs - offset))
            let target = UnsafeMutableRawBufferPointer(rebasing: buffer[done..<(done + want)])
            do { try readChunk(n, at: offset, into: target, sequential: sequential, attempt: retries) } catch let gone as ChunkGone {
                // A writer in another process truncated or replaced it since this handle looked, or
                // is making its file right now.
                retries += 1
                guard retries <= 20 else {
                    if let cause = gone.cause { throw cause }
                    throw VolumeError(.io, "read of volume \(name), chunk \(n): the cache index says the chunk is cached but its file \(store.cache.chunkPath(name, n)) stays missing; run chunkctl repair \(name)")
                }
                if retries > 1 { usleep(UInt32(5_000 * retries)) }
                chunks.removeValue(forKey: n)
                if let fd = files.removeValue(forKey: n) { Glibc.close(fd) }
                refreshForReader(force: true)
                continue
            }
            done += want
            position += UInt64(want)
        }
        lastReadEnd = position
        return done
    }

    /// A handle opened only for reading follows the volume as writers (in any process) change it:
    /// its size and chunk records are read again when the volume's generation moved.
    private func refreshForReader(force: Bool = false) {
        guard !mode.contains(.write), let fresh = try? store.cache.index.volume(name) else { return }
        if force || fresh.generation != record.generation {
            record = fresh
            chunks.removeAll()
            verified.removeAll()
        }
    }

    /// Hashes a clean chunk's cache file before its first read through this handle.
    private func checkCachedFile(_ n: Int, _ fd: Int32, length: UInt64, sha256: [UInt8]) throws {
        let sums = try ChunkHasher.hashFile(fd, length: length, kinds: [])
        guard sums.sha256 == sha256 else {
            // A writer in another process may have made it dirty and changed it since: only a
            // chunk still clean in the index is damaged.
            if let now = try? store.cache.index.chunk(name, n), now.state != .clean || now.sha256 != sha256 {
                chunks[n] = now
                throw ChunkGone(cause: nil)
            }
            throw VolumeError(.corrupt, "read of volume \(name), chunk \(n): the cache file \(store.cache.chunkPath(name, n)) was changed behind the cache index (its SHA-256 is not the one recorded); nothing was returned from it; run chunkctl repair \(name) --data to drop it and read the store's copy")
        }
    }

    /// A reader's chunk changed under it in another process; `cause` is what to report if it persists.
    private struct ChunkGone: Error { var cause: Error? }

    public func read(count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let n = try bytes.withUnsafeMutableBytes { try read(into: $0) }
        bytes.removeLast(count - n)
        return bytes
    }

    private func readChunk(_ n: Int, at offset: UInt64, into target: UnsafeMutableRawBufferPointer, sequential: Bool,
                           attempt: Int = 0) throws {
        refreshFiles()
        var rec = chunks[n]
        if rec == nil || rec!.cached == false {
            // Re-read the index: another handle may have written or downloaded it since.
            rec = try store.indexed("read \(name)") { try store.cache.index.chunk(name, n) }
            if let rec { chunks[n] = rec }
        }
        guard let rec else {
            // No record: a chunk never written (a hole, zeros), unless a truncate in another process
            // removed it since this reader looked at the size: look again once.
            if attempt == 0 && !mode.contains(.write) { throw ChunkGone(cause: nil) }
            target.initializeMemory(as: UInt8.self, repeating: 0)
            return
        }
        if !rec.cached || files[n] == nil && !FileManager.default.fileExists(atPath: store.cache.chunkPath(name, n)) {
            let small = UInt64(target.count) * 8 < rec.length
            if !sequential && small {
                // A small random read: a ranged GET, nothing cached.
                let got = try store.fetchRange(name, n, first: offset, count: UInt64(target.count), expectedLength: rec.length)
                got.withUnsafeBytes { target.copyMemory(from: $0) }
                if got.count < target.count {
                    UnsafeMutableRawBufferPointer(rebasing: target[got.count...]).initializeMemory(as: UInt8.self, repeating: 0)
                }
                return
            }
            do {
                chunks[n] = try store.fetchChunk(name, n, record: rec)
                verified.insert(n)   // hashed as it came down
            } catch let e as VolumeError where !mode.contains(.write) {
                // Gone from the store or of another length (a writer in another process truncated,
                // appended or claimed it meanwhile): look at the volume again before calling it an
                // error. A mismatch on a volume nobody changed is reported at once.
                let moved = (try? store.cache.index.volume(name))??.generation != record.generation
                if e.kind != .corrupt || moved { throw ChunkGone(cause: e) }
                throw e
            }
            store.evictIfNeeded()
            if sequential {
                window = min(max(1, store.configuration.readahead), window * 2)
            } else { window = 1 }
            if store.configuration.readahead > 0 {
                for ahead in (n + 1)..<min(chunkCount, n + 1 + window) { store.prefetch(name, ahead) }
            }
        }
        let fd: Int32
        do {
            fd = try file(n, create: false)
            if let current = chunks[n], current.state == .clean, let sha = current.sha256, !verified.contains(n) {
                // A chunk read ahead was hashed as it came down, like one this handle fetched.
                if !store.takeDownloadedVerified(name, n) { try checkCachedFile(n, fd, length: current.length, sha256: sha) }
                verified.insert(n)
            }
        } catch let e as VolumeError where e.kind == .corrupt { throw e } catch {
            // Evicted, or cut off by a truncate, in another process since the record was read.
            if !mode.contains(.write) { throw ChunkGone(cause: error) }
            throw error
        }
        var done = 0
        while done < target.count {
            let r = pread(fd, target.baseAddress! + done, target.count - done, off_t(offset) + off_t(done))
            if r < 0 && errno == EINTR { continue }
            if r < 0 { throw VolumeError(.io, "read of volume \(name), chunk \(n): \(String(cString: strerror(errno)))") }
            if r == 0 {
                // A reader finding the file shorter than the chunk: a writer in another process is
                // cutting or rewriting it (a file is cut to 0 before it is written anew); look again.
                if !mode.contains(.write) && attempt < 20 { throw ChunkGone(cause: nil) }
                // Past the end of the file but inside the chunk's length: a hole, zeros.
                UnsafeMutableRawBufferPointer(rebasing: target[done...]).initializeMemory(as: UInt8.self, repeating: 0)
                break
            }
            done += r
        }
    }

    // MARK: Writing

    /// Writes all of `bytes` at the position (at the end in append mode); returns the count.
    @discardableResult
    public func write(_ bytes: UnsafeRawBufferPointer) throws -> Int {
        try checkOpen("write", write: true)
        if mode.contains(.append) { position = record.size }
        guard bytes.count > 0 else { return 0 }
        let (end, overflow) = position.addingReportingOverflow(UInt64(bytes.count))
        guard !overflow, end <= UInt64(Int64.max) else { throw VolumeError(.invalid, "write to volume \(name) past the largest offset") }
        // Chunks written since the last sync are dirty too, though the index does not know them yet.
        let unsynced = touched.reduce(UInt64(0)) { $0 + (chunks[$1]?.length ?? 0) }
        try store.waitForSpace(adding: UInt64(bytes.count) + unsynced, volume: name)
        if position > record.size { try extend(to: position) }
        var done = 0
        while done < bytes.count {
            let n = Int(position / cs)
            let offset = position % cs
            let count = Int(min(UInt64(bytes.count - done), cs - offset))
            let part = UnsafeRawBufferPointer(rebasing: bytes[done..<(done + count)])
            try writeChunk(n, at: offset, part)
            done += count
            position += UInt64(count)
            if position > record.size { record.size = position; resized = true }
        }
        return done
    }

    @discardableResult
    public func write(_ bytes: [UInt8]) throws -> Int { try bytes.withUnsafeBytes { try write($0) } }

    private func writeChunk(_ n: Int, at offset: UInt64, _ bytes: UnsafeRawBufferPointer) throws {
        let end = offset + UInt64(bytes.count)
        let fd = try prepareForWrite(n, coversFrom: offset, to: end)
        feedHasher(n, bytes: bytes, at: offset, previousLength: chunks[n]?.length ?? 0)
        CrashPoint.reach("write.before-data")
        var done = 0
        while done < bytes.count {
            let w = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if w < 0 && errno == EINTR { continue }
            if w < 0 {
                let e = errno
                throw VolumeError(e == ENOSPC ? .noSpace : .io,
                                  "write to volume \(name), chunk \(n): \(String(cString: strerror(e)))" + (e == ENOSPC ? " (the cache's disk is full)" : ""))
            }
            done += w
        }
        CrashPoint.reach("write.after-data")
        var rec = chunks[n]!
        rec.length = max(rec.length, end)
        rec.lastUse = Date().timeIntervalSince1970
        chunks[n] = rec
        touched.insert(n)
        // The volume's size includes these bytes before any sync below records it.
        let reached = UInt64(n) * cs + end
        if reached > record.size { record.size = reached; resized = true }
        if rec.length == cs && end == cs && store.configuration.policy == .eachChunk {
            try sync(chunk: n)
            store.queueUpload(name, n, length: rec.length)
        }
    }

    /// Makes chunk n writable: downloaded if only the store has it (unless the write replaces all
    /// of it), dirty in the index before its bytes change if it was clean, its file open.
    private func prepareForWrite(_ n: Int, coversFrom start: UInt64, to end: UInt64) throws -> Int32 {
        guard chunks[n] != nil else {
            // A new chunk: whatever an earlier, unsynced life of this file held is not part of the volume.
            store.state.lock()
            store.waitForUploadLocked(name, n)
            store.bumpLocked(name, n)
            store.state.unlock()
            let fd = try file(n, create: true)
            ftruncate(fd, 0)
            createdFiles = true
            chunks[n] = ChunkRecord(volume: name, number: n, length: 0, state: .dirty, cached: true)
            return fd
        }
        while true {
            // The index decides, under the state lock: no eviction or download of this chunk runs
            // between this look and its change to dirty.
            store.state.lock()
            while store.activity[name]?.downloading.contains(n) == true { store.state.wait() }
            // An upload reads the file: its bytes must not change under it.
            store.waitForUploadLocked(name, n)
            var rec: ChunkRecord
            do {
                // The index's record if it has one; this handle's own (unsynced) one otherwise, and
                // this handle's length when it knows more (written since its last sync).
                let mine = chunks[n]!
                rec = try store.cache.index.chunk(name, n) ?? mine
                if mine.length > rec.length && rec.cached { rec.length = mine.length }
                var changed = false
                var retry = false
                if !rec.cached && start == 0 && end >= rec.length {
                    // The write replaces all of it: no need to fetch the old bytes. Claimed in the
                    // index first, so a download in another process cannot be installed over it.
                    if try store.cache.index.claimUncached(name, n) {
                        if let fd = files.removeValue(forKey: n) { Glibc.close(fd) }
                        let fd = try file(n, create: true)
                        ftruncate(fd, 0)
                        createdFiles = true
                        rec.cached = true
                        rec.state = .dirty
                        rec.sha256 = nil
                        changed = true
                    } else { retry = true }
                } else if rec.cached && rec.state == .clean {
                    // Dirty in the index before its bytes change: a crash must never leave changed
                    // bytes marked clean. In one statement with the check that it is still cached: an
                    // eviction by another process may have taken its file meanwhile.
                    if try store.cache.index.markDirtyIfCachedClean(name, n) {
                        rec.state = .dirty
                        rec.sha256 = nil
                        changed = true
                    } else { retry = true }
                }
                if retry {
                    store.state.unlock()
                    continue
                }
                if changed { try store.cache.index.save(rec) }
            } catch {
                store.state.unlock()
                throw VolumeError.from(error, "write \(name)")
            }
            if rec.cached {
                // A new version before the bytes change: an upload queued for an older one is skipped.
                store.bumpLocked(name, n)
                store.state.unlock()
                chunks[n] = rec
                return try file(n, create: true)
            }
            store.state.unlock()
            // Only the store has it: fetch it whole, then look again (it may be evicted meanwhile).
            if let fd = files.removeValue(forKey: n) { Glibc.close(fd) }
            _ = try store.fetchChunk(name, n, record: rec)
        }
    }

    /// Feeds the chunk's checksums when the write continues it from its start. Not under
    /// upload=manual: there `chunkctl flush`, another process, uploads the chunks and hashes their
    /// files anyway, so hashing while writing would only slow the writer (by about 0.8 s of CPU
    /// per GiB for SHA-256); a flush in this process hashes the files too.
    private func feedHasher(_ n: Int, bytes: UnsafeRawBufferPointer, at offset: UInt64, previousLength: UInt64) {
        let hashing = store.configuration.policy != .manual
        store.state.lock()
        defer { store.state.unlock() }
        var a = store.activity[name] ?? VolumeActivity()
        let version = a.version[n] ?? 0
        if hashing && offset == 0 && previousLength == 0 {
            a.hashers[n] = ChunkHasher(version: version, md5: store.store.checksumKinds.contains(.md5))
        }
        if let h = a.hashers[n], !h.add(bytes, at: offset, version: version) { a.hashers.removeValue(forKey: n) }
        a.manifestWanted = true
        store.activity[name] = a
    }

    /// Grows the volume to `newSize` with zeros: the last chunk is filled, new chunks are holes.
    private func extend(to newSize: UInt64) throws {
        var size = record.size
        while size < newSize {
            let n = Int(size / cs)
            let offset = size % cs
            let upto = min(newSize, UInt64(n + 1) * cs)
            let length = upto - UInt64(n) * cs
            let fd = try prepareForWrite(n, coversFrom: offset, to: offset)
            store.state.lock()
            store.invalidateLocked(name, n)
            store.activity[name]?.manifestWanted = true
            store.state.unlock()
            // Bytes past the old end may hold what an unsynced write left: cut, then grow with zeros.
            guard ftruncate(fd, off_t(offset)) == 0, ftruncate(fd, off_t(length)) == 0 else {
                throw VolumeError(errno == ENOSPC ? .noSpace : .io, "extending volume \(name): \(String(cString: strerror(errno)))")
            }
            chunks[n]!.length = length
            touched.insert(n)
            if length == cs && store.configuration.policy == .eachChunk && upto < newSize {
                try sync(chunk: n)
                store.queueUpload(name, n, length: length)
            }
            size = upto
        }
        record.size = newSize
        resized = true
    }

    // MARK: Truncate

    /// Sets the size. Shrinking removes the chunk objects past the new end from the store (with the
    /// store's batch delete) and cuts the last chunk; growing adds zeros. Durable in the cache on return.
    public func truncate(to length: UInt64) throws {
        try checkOpen("truncate", write: true)
        guard length != record.size else { return }
        if length > record.size {
            try extend(to: length)
            try sync()
            return
        }
        let keep = length == 0 ? 0 : Int((length + cs - 1) / cs)
        let oldCount = max(chunkCount, (chunks.keys.max() ?? -1) + 1)
        let beyond = keep < oldCount ? Array(keep..<oldCount) : []
        if !beyond.isEmpty {
            store.state.lock()
            for n in beyond { store.waitForUploadLocked(name, n); store.invalidateLocked(name, n) }
            store.state.unlock()
            touched.subtract(beyond)
        }
        var cut: (chunk: Int, length: UInt64)? = nil
        if length % cs != 0, keep > 0, let rec = chunks[keep - 1], rec.length > length - UInt64(keep - 1) * cs {
            let n = keep - 1
            // Dirty in the index before anything changes; the file is cut only after the commit.
            _ = try prepareForWrite(n, coversFrom: rec.length, to: rec.length)
            store.state.lock()
            store.invalidateLocked(name, n)
            store.state.unlock()
            chunks[n]!.length = length - UInt64(n) * cs
            touched.insert(n)
            cut = (n, chunks[n]!.length)
        }
        // Past the end soon: never again clean in the index, since their objects are about to go.
        for n in beyond { try store.indexed("truncate \(name)") { try store.cache.index.mark(name, n, state: .dirty, error: nil) } }
        record.size = length
        resized = true
        store.state.lock()
        store.activity[name, default: VolumeActivity()].manifestWanted = true
        store.state.unlock()
        // The commit point: from here the volume ends at `length`, before anything is removed. A
        // crash now leaves records past the end (and their objects), which the next open removes;
        // never a record marked clean whose object is gone, nor a shorter file than its record.
        try sync()
        CrashPoint.reach("truncate.committed")
        if let cut, let fd = files[cut.chunk], ftruncate(fd, off_t(cut.length)) != 0 {
            throw VolumeError(.io, "truncate of volume \(name): \(String(cString: strerror(errno)))")
        }
        guard !beyond.isEmpty else { return }
        // Their files first: a write that grows the volume again must start those chunks afresh.
        for n in beyond {
            if let fd = files.removeValue(forKey: n) { Glibc.close(fd) }
            chunks.removeValue(forKey: n)
        }
        do { try store.dropChunks(name, beyond, from: keep) } catch {
            throw VolumeError.from(error, "truncate of volume \(name) to \(length) bytes is recorded; removing the chunk objects past the end failed (the next open of the store retries)")
        }
    }

    /// At open for writing: the volume is exactly its recorded size. Chunks past the end (an
    /// unsynced life before a crash) go, and the last chunk's file is cut to its length.
    func clipToSize() throws {
        let count = chunkCount
        for n in chunks.keys where n >= count { chunks.removeValue(forKey: n) }
        let records = try store.indexed("open \(name)") { try store.cache.index.chunks(of: name) }
        if let last = try store.clipToSize(record, chunks: records) { chunks[last.number] = last }
    }

    // MARK: Durability

    /// Makes every byte written so far durable in the cache: chunk files fsynced, then the index
    /// records committed. After a crash they are found dirty and uploaded again.
    public func sync() throws {
        try checkOpen("sync")
        guard mode.contains(.write) else { return }
        try sync(chunks: touched)
    }

    private func sync(chunk n: Int) throws { try sync(chunks: [n]) }

    private func sync(chunks numbers: Set<Int>) throws {
        // Nothing written since the last sync: nothing to make durable, and no new generation.
        if numbers.isEmpty && !resized { return }
        for n in numbers {
            if let fd = files[n], fsync(fd) != 0 {
                throw VolumeError(errno == ENOSPC ? .noSpace : .io, "sync of volume \(name): \(String(cString: strerror(errno)))")
            }
        }
        if createdFiles { store.cache.syncVolumeFolder(name); createdFiles = false }
        CrashPoint.reach("sync.after-fsync")
        record.generation += 1
        record.updatedAt = Date().timeIntervalSince1970
        let volumeRecord = record
        // Under the store's state lock: an upload finishing now cannot interleave with these records.
        store.state.lock()
        defer { store.state.unlock() }
        let a = store.activity[name]
        do {
            try store.cache.index.transaction {
                if let current = try store.cache.index.volumeUnlocked(name) {
                    var v = volumeRecord
                    v.storedGeneration = current.storedGeneration
                    try store.cache.index.saveUnlocked(v)
                } else {
                    try store.cache.index.saveUnlocked(volumeRecord)
                }
                for n in numbers {
                    guard let rec = chunks[n] else { continue }
                    if let v = a?.version[n], a?.cleanVersion[n] == v { continue }   // uploaded since: clean already
                    var dirty = rec
                    dirty.state = .dirty
                    dirty.sha256 = nil
                    try store.cache.index.saveUnlocked(dirty)
                }
            }
        } catch {
            throw VolumeError(.io, "sync of volume \(name): the cache index failed: \(error)")
        }
        CrashPoint.reach("sync.committed")
        touched.subtract(numbers)
        if touched.isEmpty { resized = false }
    }

    /// Makes the volume durable in the store: uploads its dirty chunks and its manifest, waiting at
    /// most `timeout` seconds. Throws naming the chunks that could not be uploaded.
    public func flush(timeout: Double) throws {
        try checkOpen("flush")
        if mode.contains(.write) { try sync() }
        try store.flush([name], timeout: timeout)
        for (n, var rec) in chunks {
            if let fresh = try? store.cache.index.chunk(name, n) { rec = fresh }
            chunks[n] = rec
        }
    }

    /// Syncs, applies the upload policy (each-chunk and on-close queue every dirty chunk, manual
    /// nothing) and releases the handle. Uploads go on in the background; `flush` waits for them.
    public func close() throws {
        guard !closed else { throw VolumeError(.badHandle, "close of volume \(name): the handle is closed already") }
        var failure: Error? = nil
        if mode.contains(.write) {
            do { try sync() } catch { failure = error }
            if store.configuration.policy != .manual {
                let count = chunkCount
                for rec in (try? store.cache.index.chunks(of: name)) ?? [] where rec.state != .clean && rec.number < count {
                    store.queueUpload(name, rec.number, length: rec.length)
                }
            }
            // Only now may an upload's end write the manifest: every dirty chunk is queued.
            store.state.lock()
            store.activity[name, default: VolumeActivity()].writerOpen = false
            store.state.unlock()
            if store.configuration.policy != .manual { store.maybeWriteManifest(name) }
        }
        for fd in files.values { Glibc.close(fd) }
        files.removeAll()
        closed = true
        if let lock { store.keepLockWhileUploading(name, lock) }
        lock = nil
        if let failure { throw failure }
        // The bytes are safe in the cache, but the caller must hear that the store is refusing
        // them: uploads of this volume that failed (after their retries) and are not yet redone.
        if mode.contains(.write) {
            store.state.lock()
            let failed = (store.activity[name]?.failures ?? [:]).sorted { $0.key < $1.key }
            store.state.unlock()
            if !failed.isEmpty {
                throw VolumeError(.io, "close of volume \(name): the volume is closed and durable in the cache, but \(failed.count) chunk upload(s) failed: "
                                  + failed.prefix(3).map(\.value).joined(separator: "; ")
                                  + "; they stay dirty and are sent by a flush or the next open of the store once it answers")
            }
        }
    }

    // MARK: Files

    /// Drops kept descriptors when chunk files were evicted or replaced since: one may name an
    /// unlinked file. Chunks this handle wrote since its last sync are dirty and never replaced.
    private func refreshFiles() {
        let epoch = store.fileEpoch
        guard epoch != filesEpoch else { return }
        for (k, fd) in files where !touched.contains(k) { Glibc.close(fd); files.removeValue(forKey: k) }
        filesEpoch = epoch
    }

    private func file(_ n: Int, create: Bool) throws -> Int32 {
        refreshFiles()
        if let fd = files[n] { return fd }
        // Keep few descriptors: sequential work needs the current chunk and the next.
        if files.count >= 8, let (old, fd) = files.first(where: { !touched.contains($0.key) }) {
            Glibc.close(fd); files.removeValue(forKey: old)
        }
        let fd: Int32
        do { fd = try store.cache.openChunk(name, n, create: create) } catch { throw VolumeError.from(error, "volume \(name), chunk \(n)") }
        files[n] = fd
        return fd
    }
}
