// One cache folder: the SQLite index and the chunk files, folders 0700 and files 0600 whatever the
// umask. Layout (Spec/cache.md):
//   FOLDER/index.sqlite                       the index (WAL)
//   FOLDER/STORE/VOLUME/NUMBER                chunk files, STORE a hash naming the store
//   FOLDER/STORE/VOLUME.lock                  the volume's writer lock (fcntl), with the holder's pid
import Foundation
import Platform
import ObjectStore
#if canImport(Glibc)
import Glibc
#endif

public struct CacheError: Error, CustomStringConvertible, Sendable {
    public var sentence: String
    /// The errno behind it, when a system call failed (ENOSPC: the cache's disk is full).
    public var errno: Int32?
    public init(_ sentence: String, errno: Int32? = nil) { self.sentence = sentence; self.errno = errno }
    public var description: String { sentence }
}

public final class ChunkCache: @unchecked Sendable {
    public let folder: String
    public let storeFolder: String
    public let index: CacheIndex

    /// Opens (creating) the cache folder for the store named by `storeIdentity` (such as
    /// "s3 http://host:port bucket b prefix p").
    public init(folder: String, storeIdentity: String) throws {
        self.folder = folder
        let id = Digest.sha256(Array(storeIdentity.utf8)).prefix(8).hex
        storeFolder = folder + "/" + id
        try ChunkCache.makePrivateFolder(folder)
        try ChunkCache.makePrivateFolder(storeFolder)
        let indexPath = folder + "/index.sqlite"
        // A write-ahead log without its database belongs to a lost index: never replay it into a new one.
        if access(indexPath, F_OK) != 0 { for suffix in ["-wal", "-shm"] { unlink(indexPath + suffix) } }
        do { index = try CacheIndex(path: indexPath, store: id) } catch let error as SQLiteError where [11, 26].contains(error.code & 0xff) {
            // SQLITE_CORRUPT or SQLITE_NOTADB: damaged beyond SQLite's reading: kept aside for inspection, and a new index is built
            // from the chunk files and the store (VolumeStore adopts the volume folders it finds).
            let aside = indexPath + ".damaged-\(Int(Date().timeIntervalSince1970))"
            for suffix in ["", "-wal", "-shm"] { rename(indexPath + suffix, aside + suffix) }
            do { index = try CacheIndex(path: indexPath, store: id) } catch {
                throw CacheError("cannot open the cache index \(indexPath): \(error)")
            }
            notice = "the cache index \(indexPath) was damaged (\(error)); it was moved to \(aside) and is rebuilt from the cache's chunk files and the store"
        } catch {
            throw CacheError("cannot open the cache index \(indexPath): \(error)")
        }
        for suffix in ["", "-wal", "-shm"] { chmod(indexPath + suffix, 0o600) }
    }

    /// What the operator must hear about this cache (an index rebuilt after damage).
    public private(set) var notice: String?

    /// The volumes that have a folder of chunk files in this store's part of the cache.
    public func volumeFolders() -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: storeFolder)) ?? []
        return entries.filter { name in
            var isDir: ObjCBool = false
            return !name.hasPrefix(".") && FileManager.default.fileExists(atPath: storeFolder + "/" + name, isDirectory: &isDir) && isDir.boolValue
        }.sorted()
    }

    /// The chunk files of a volume's folder: number and size (downloads under way left out).
    public func chunkFiles(_ volume: String) -> [(number: Int, size: UInt64)] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: volumeFolder(volume))) ?? []
        return entries.compactMap { name -> (Int, UInt64)? in
            guard let n = Int(name), String(n) == name,
                  let size = (try? FileManager.default.attributesOfItem(atPath: chunkPath(volume, n))[.size]) as? NSNumber else { return nil }
            return (n, size.uint64Value)
        }.sorted { $0.0 < $1.0 }
    }

    public static func makePrivateFolder(_ path: String) throws {
        if mkdir(path, 0o700) != 0 && errno != EEXIST {
            // mkdir -p for the parents, then the folder itself.
            do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
                throw CacheError("cannot create the cache folder \(path): \(String(cString: strerror(errno)))", errno: errno)
            }
        }
        var st = stat()
        guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else {
            throw CacheError("the cache path \(path) is not a folder", errno: ENOTDIR)
        }
        // Whatever the umask made of it: only the owner may look inside.
        if st.st_mode & 0o777 != 0o700 { chmod(path, 0o700) }
    }

    public func volumeFolder(_ volume: String) -> String { storeFolder + "/" + volume }
    public func chunkPath(_ volume: String, _ number: Int) -> String { volumeFolder(volume) + "/" + String(number) }

    /// Opens a chunk file for reading and writing, creating it (0600) when `create`.
    public func openChunk(_ volume: String, _ number: Int, create: Bool) throws -> Int32 {
        if create { try ChunkCache.makePrivateFolder(volumeFolder(volume)) }
        let path = chunkPath(volume, number)
        let fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0o600)
        guard fd >= 0 else {
            throw CacheError("cannot open the cache file \(path): \(String(cString: strerror(errno)))", errno: errno)
        }
        if create { fchmod(fd, 0o600) }
        return fd
    }

    public func removeChunkFile(_ volume: String, _ number: Int) { unlink(chunkPath(volume, number)) }

    /// Removes the volume's chunk files and folder (not its lock file).
    public func removeVolumeFiles(_ volume: String) {
        try? FileManager.default.removeItem(atPath: volumeFolder(volume))
    }

    /// Makes the folder entries of a volume's chunk files durable (after creating or removing files).
    public func syncVolumeFolder(_ volume: String) {
        for path in [volumeFolder(volume), storeFolder] {
            let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if fd >= 0 { fsync(fd); close(fd) }
        }
    }
}

/// The writer lock of one volume: an open-file-description lock on VOLUME.lock, held while the
/// volume is open for writing, released when the process dies. The file holds the holder's pid.
public final class VolumeLock: @unchecked Sendable {
    private let fd: Int32
    public let path: String
    /// Lock files held by handles of this process.
    private static let heldLock = Mutex()
    nonisolated(unsafe) private static var held: Set<String> = []

    /// Takes the lock or throws a CacheError naming the process that holds it. `patient`: wait up
    /// to a second for a lock just released (a child holding our descriptors until it execs).
    public init(cache: ChunkCache, volume: String, patient: Bool = true) throws {
        path = cache.storeFolder + "/" + volume + ".lock"
        let lockPath = path
        let mine = VolumeLock.heldLock.withLock { () -> Bool in
            if VolumeLock.held.contains(lockPath) { return true }
            VolumeLock.held.insert(lockPath)
            return false
        }
        if mine {
            throw CacheError("volume \(volume) is open for writing by this process (pid \(getpid())); close that handle first", errno: EBUSY)
        }
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let e = errno
            VolumeLock.heldLock.withLock { _ = VolumeLock.held.remove(lockPath) }
            throw CacheError("cannot open the lock file \(path): \(String(cString: strerror(e)))", errno: e)
        }
        var request = flock()
        request.l_type = Int16(F_WRLCK)
        request.l_whence = Int16(SEEK_SET)
        // OFD locks belong to this open file, so two threads of one process exclude each other too.
        // A child this process is starting holds a copy of our descriptors until it execs: a lock
        // released here may look taken for a moment, hence a short wait before saying busy.
        var attempts = 0
        while fcntl(fd, 37 /* F_OFD_SETLK, which Glibc does not export to Swift */, &request) != 0 {
            attempts += 1
            if patient && attempts < 100 { usleep(10_000); continue }
            let holder = VolumeLock.holder(fd)
            close(fd)
            VolumeLock.heldLock.withLock { _ = VolumeLock.held.remove(lockPath) }
            throw CacheError("volume \(volume) is open for writing by \(holder); close it there first", errno: EBUSY)
        }
        let pid = "\(getpid()) \(ProcessInfo.processInfo.processName)\n"
        ftruncate(fd, 0)
        _ = pid.withCString { pwrite(fd, $0, strlen($0), 0) }
    }

    /// Whether a handle or the upload queue of this process holds the volume's lock.
    public static func isHeldHere(cache: ChunkCache, volume: String) -> Bool {
        let lockPath = cache.storeFolder + "/" + volume + ".lock"
        return heldLock.withLock { held.contains(lockPath) }
    }

    deinit {
        close(fd)
        let lockPath = path
        VolumeLock.heldLock.withLock { _ = VolumeLock.held.remove(lockPath) }
    }

    private static func holder(_ fd: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        let n = pread(fd, &buffer, 255, 0)
        let text = n > 0 ? String(cString: buffer).trimmingCharacters(in: .whitespacesAndNewlines) : ""
        guard let pidText = text.split(separator: " ").first else { return "another process" }
        let name = text.split(separator: " ").dropFirst().joined(separator: " ")
        return "process \(pidText)" + (name.isEmpty ? "" : " (\(name))")
    }
}
