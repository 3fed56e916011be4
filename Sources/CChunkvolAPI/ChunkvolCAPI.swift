// The C API (chunkvol.h, Spec/c-api.md): libchunkvol's exported functions. Thin: each converts
// handles, flags and errors and calls VolumeStore or Volume, which hold all the logic.
import Chunkvol
import CChunkvolHeader
import Platform
#if canImport(Glibc)
import Glibc
#endif

// MARK: Handles

/// What a `chunkvol_store *` points at.
final class StoreHandle {
    let store: VolumeStore
    /// Files of this store not yet closed (guarded by `Handles.lock`): the store may not close under them.
    var openFiles = 0
    init(_ store: VolumeStore) { self.store = store }
}

/// What a `chunkvol_file *` points at.
final class FileHandle {
    let volume: Volume
    let owner: StoreHandle
    init(_ volume: Volume, _ owner: StoreHandle) { self.volume = volume; self.owner = owner }
}

/// The live handles by address. A pointer is looked up here before it is dereferenced, so a
/// closed, NULL or foreign handle is EBADF rather than a use of freed memory. Like a file
/// descriptor, the address of a closed handle may be reused by a later open.
enum Handles {
    nonisolated(unsafe) static var stores: Set<UnsafeMutableRawPointer> = []
    nonisolated(unsafe) static var files: Set<UnsafeMutableRawPointer> = []
    static let lock = Mutex()

    static func store(_ p: OpaquePointer?) throws -> StoreHandle {
        guard let raw = p.map(UnsafeMutableRawPointer.init), lock.withLock({ stores.contains(raw) }) else {
            throw VolumeError(.badHandle, "the store handle is not open")
        }
        return Unmanaged<StoreHandle>.fromOpaque(raw).takeUnretainedValue()
    }

    static func file(_ p: OpaquePointer?) throws -> FileHandle {
        guard let raw = p.map(UnsafeMutableRawPointer.init), lock.withLock({ files.contains(raw) }) else {
            throw VolumeError(.badHandle, "the file handle is not open")
        }
        return Unmanaged<FileHandle>.fromOpaque(raw).takeUnretainedValue()
    }
}

// MARK: Errors

/// Each thread's last failure sentence: a malloc'd C string, freed when replaced or when the thread ends.
let lastErrorKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key) { free($0) }
    return key
}()

/// Records `error` as this thread's last failure and sets errno (last: nothing after it may clobber it).
func fail(_ error: Error, _ what: String) {
    let e = VolumeError.from(error, what)
    free(pthread_getspecific(lastErrorKey))
    pthread_setspecific(lastErrorKey, strdup(e.sentence))
    errno = e.errno
}

/// Runs `body`, turning a thrown error into `failure` with errno and the sentence set.
func calling<T>(_ what: String, failure: T, _ body: () throws -> T) -> T {
    do { return try body() } catch { fail(error, what); return failure }
}

func text(_ p: UnsafePointer<CChar>?, _ what: String) throws -> String {
    guard let p else { throw VolumeError(.invalid, "\(what) is NULL") }
    return String(cString: p)
}

/// open(2) flags as an OpenMode. Flags a daemon passes out of habit and that mean nothing here
/// are ignored; any other is refused rather than silently dropped.
func openMode(_ flags: Int32) throws -> OpenMode {
    var mode: OpenMode
    switch flags & O_ACCMODE {
    case O_RDONLY: mode = .read
    case O_WRONLY: mode = .write
    case O_RDWR: mode = .readWrite
    default: throw VolumeError(.invalid, "open flags: the access mode is not O_RDONLY, O_WRONLY or O_RDWR")
    }
    let known: [(Int32, OpenMode)] = [(O_CREAT, .create), (O_EXCL, .exclusive), (O_TRUNC, .truncate), (O_APPEND, .append)]
    for (flag, m) in known where flags & flag != 0 { mode.insert(m) }
    let ignored = O_CLOEXEC
    let unknown = flags & ~(O_ACCMODE | O_CREAT | O_EXCL | O_TRUNC | O_APPEND | ignored)
    if unknown != 0 { throw VolumeError(.invalid, "open flags: unsupported flag bits 0x\(String(unknown, radix: 16))") }
    if mode.contains(.exclusive) && !mode.contains(.create) { throw VolumeError(.invalid, "open flags: O_EXCL needs O_CREAT") }
    return mode
}

// MARK: Stores

@_cdecl("chunkvol_store_open")
public func capiStoreOpen(_ options: UnsafePointer<CChar>?) -> OpaquePointer? {
    calling("opening the store", failure: nil) {
        let store = try VolumeStore(options: try text(options, "the option string"))
        let raw = Unmanaged.passRetained(StoreHandle(store)).toOpaque()
        Handles.lock.withLock { _ = Handles.stores.insert(raw) }
        return OpaquePointer(raw)
    }
}

@_cdecl("chunkvol_store_close")
public func capiStoreClose(_ store: OpaquePointer?) -> Int32 {
    calling("closing the store", failure: -1) {
        let handle = try Handles.store(store)
        let raw = Unmanaged.passUnretained(handle).toOpaque()
        try Handles.lock.withLock {
            if handle.openFiles > 0 {
                throw VolumeError(.busy, "closing the store: it has files still open (\(handle.openFiles)); close them first")
            }
            Handles.stores.remove(raw)
        }
        let idle = handle.store.close()
        Unmanaged<StoreHandle>.fromOpaque(raw).release()
        if !idle { throw VolumeError(.timedOut, "closing the store: uploads were still running; their chunks stay dirty in the cache") }
        return 0
    }
}

// MARK: Files

@_cdecl("chunkvol_open")
public func capiOpen(_ store: OpaquePointer?, _ volume: UnsafePointer<CChar>?, _ flags: Int32) -> OpaquePointer? {
    calling("open", failure: nil) {
        let owner = try Handles.store(store)
        let mode = try openMode(flags)
        let file = FileHandle(try owner.store.open(try text(volume, "the volume name"), mode: mode), owner)
        let raw = Unmanaged.passRetained(file).toOpaque()
        Handles.lock.withLock {
            Handles.files.insert(raw)
            owner.openFiles += 1
        }
        return OpaquePointer(raw)
    }
}

@_cdecl("chunkvol_read")
public func capiRead(_ f: OpaquePointer?, _ buf: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    calling("read", failure: -1) {
        let file = try Handles.file(f)
        guard count >= 0 else { throw VolumeError(.invalid, "read: count is larger than SSIZE_MAX") }
        guard count > 0 else { return 0 }
        guard let buf else { throw VolumeError(.invalid, "read: the buffer is NULL") }
        return try file.volume.read(into: UnsafeMutableRawBufferPointer(start: buf, count: count))
    }
}

@_cdecl("chunkvol_write")
public func capiWrite(_ f: OpaquePointer?, _ buf: UnsafeRawPointer?, _ count: Int) -> Int {
    calling("write", failure: -1) {
        let file = try Handles.file(f)
        guard count >= 0 else { throw VolumeError(.invalid, "write: count is larger than SSIZE_MAX") }
        guard count > 0 else { return 0 }
        guard let buf else { throw VolumeError(.invalid, "write: the buffer is NULL") }
        return try file.volume.write(UnsafeRawBufferPointer(start: buf, count: count))
    }
}

@_cdecl("chunkvol_lseek")
public func capiLseek(_ f: OpaquePointer?, _ offset: off_t, _ whence: Int32) -> off_t {
    calling("lseek", failure: -1) {
        let file = try Handles.file(f)
        let from: Volume.Whence
        switch whence {
        case SEEK_SET: from = .set
        case SEEK_CUR: from = .current
        case SEEK_END: from = .end
        default: throw VolumeError(.invalid, "lseek: whence \(whence) is not SEEK_SET, SEEK_CUR or SEEK_END")
        }
        return off_t(try file.volume.seek(Int64(offset), from: from))
    }
}

@_cdecl("chunkvol_ftruncate")
public func capiFtruncate(_ f: OpaquePointer?, _ length: off_t) -> Int32 {
    calling("ftruncate", failure: -1) {
        let file = try Handles.file(f)
        guard length >= 0 else { throw VolumeError(.invalid, "ftruncate: the length is negative") }
        try file.volume.truncate(to: UInt64(length))
        return 0
    }
}

@_cdecl("chunkvol_fsync")
public func capiFsync(_ f: OpaquePointer?) -> Int32 {
    calling("fsync", failure: -1) {
        try Handles.file(f).volume.sync()
        return 0
    }
}

@_cdecl("chunkvol_flush")
public func capiFlush(_ f: OpaquePointer?, _ timeoutMS: Int32) -> Int32 {
    calling("flush", failure: -1) {
        let file = try Handles.file(f)
        // "Without limit" as ten years: the store's deadline arithmetic needs a finite time.
        try file.volume.flush(timeout: timeoutMS < 0 ? 10 * 365 * 86400 : Double(timeoutMS) / 1000)
        return 0
    }
}

@_cdecl("chunkvol_close")
public func capiClose(_ f: OpaquePointer?) -> Int32 {
    calling("close", failure: -1) {
        let file = try Handles.file(f)
        let raw = Unmanaged.passUnretained(file).toOpaque()
        // Released whatever close reports, as close(2) releases its descriptor; the store counts
        // the file open until its close has run, so the store cannot close under it.
        Handles.lock.withLock { _ = Handles.files.remove(raw) }
        defer {
            Handles.lock.withLock { file.owner.openFiles -= 1 }
            Unmanaged<FileHandle>.fromOpaque(raw).release()
        }
        try file.volume.close()
        return 0
    }
}

// MARK: Volumes by name

@_cdecl("chunkvol_unlink")
public func capiUnlink(_ store: OpaquePointer?, _ volume: UnsafePointer<CChar>?) -> Int32 {
    calling("unlink", failure: -1) {
        try Handles.store(store).store.remove(try text(volume, "the volume name"))
        return 0
    }
}

@_cdecl("chunkvol_stat")
public func capiStat(_ store: OpaquePointer?, _ volume: UnsafePointer<CChar>?,
                          _ st: UnsafeMutablePointer<chunkvol_stat>?) -> Int32 {
    calling("stat", failure: -1) {
        let handle = try Handles.store(store)
        guard let st else { throw VolumeError(.invalid, "stat: the chunkvol_stat pointer is NULL") }
        let s = try handle.store.stat(try text(volume, "the volume name"))
        st.pointee = chunkvol_stat(size: s.size, chunk_size: s.chunkSize, chunks: UInt64(s.chunks),
                                   dirty_chunks: UInt64(s.dirtyChunks))
        return 0
    }
}

@_cdecl("chunkvol_last_error")
public func capiLastError() -> UnsafePointer<CChar>? {
    guard let p = pthread_getspecific(lastErrorKey) else { return UnsafePointer(emptySentence) }
    return UnsafePointer(p.assumingMemoryBound(to: CChar.self))
}

/// "" for a thread with no failure yet: the call never returns NULL.
nonisolated(unsafe) let emptySentence: UnsafeMutablePointer<CChar> = strdup("")
