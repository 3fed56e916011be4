// The Local backend: a folder whose files are the objects, with the same contract as S3 and Swift.
// It is the embedded default and the unit tests' store. Keys map to paths ("V/0000" is the file
// V/0000), so the folder looks like the bucket; segments a file system cannot hold as they are
// ("", ".", "..", names with "%", our temporary names) are percent-escaped. Writes are atomic:
// a temporary file, fsync, rename, fsync of the folder.
import Foundation
import Platform
#if canImport(Glibc)
import Glibc
#endif

public final class LocalStore: ObjectStore, @unchecked Sendable {
    public let root: String
    private static let temporaryPrefix = ".cvtmp-"

    public init(root: String) {
        var r = root
        while r.count > 1 && r.hasSuffix("/") { r.removeLast() }
        self.root = r
    }

    public var name: String { "local \(root)" }
    public var checksumKinds: ChecksumKinds { [] }
    public var maxBatchDelete: Int { 0 }

    // MARK: Key <-> path

    static func escape(segment: Substring) -> String {
        if segment.isEmpty { return "%" }
        if segment == "." { return "%2E" }
        if segment == ".." { return "%2E%2E" }
        var out = ""
        for (i, c) in segment.enumerated() {
            if c == "%" { out += "%25" }
            else if i == 0 && c == "." && segment.hasPrefix(temporaryPrefix) { out += "%2E" }
            else { out.append(c) }
        }
        return out
    }

    static func unescape(segment: String) -> String {
        segment == "%" ? "" : SigV4Signer.percentDecode(Substring(segment))
    }

    func path(for key: String) throws -> String {
        try ObjectKey.validate(key)
        return root + "/" + key.split(separator: "/", omittingEmptySubsequences: false)
            .map { LocalStore.escape(segment: $0) }.joined(separator: "/")
    }

    private func posixError(_ what: String, _ key: String?, _ code: Int32 = errno) -> StoreError {
        let text = String(cString: strerror(code))
        switch code {
        case ENOENT: return StoreError(.notFound, "\(what): no such object", key: key)
        case EACCES, EPERM: return StoreError(.accessDenied, "\(what): permission denied (\(text))", key: key)
        case ENOTDIR, EISDIR:
            return StoreError(.invalidRequest, "\(what): the key conflicts with another key used as a folder (\(text))", key: key)
        default: return StoreError(.io, "\(what): \(text)", key: key)
        }
    }

    private func requireRoot() throws {
        var st = stat()
        guard stat(root, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else {
            throw StoreError(.containerNotFound, "the local store folder \(root) does not exist; create it with `chunkctl store create` or fix path=")
        }
    }

    // MARK: Operations

    public func put(_ key: String, body: ObjectBody, checksums: Checksums) throws -> ObjectInfo {
        let what = "upload of \(key)"
        try requireRoot()
        let target = try path(for: key)
        let folder = String(target[..<target.lastIndex(of: "/")!])
        try makeFolders(folder, what: what, key: key)
        let temp = folder + "/" + LocalStore.temporaryPrefix + UUID().uuidString
        let out = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard out >= 0 else { throw posixError(what, key) }
        var ok = false
        defer { if !ok { close(out); unlink(temp) } }
        var sha = checksums.sha256 != nil ? Digest(.sha256) : nil
        var md5 = checksums.md5 != nil ? Digest(.md5) : nil
        try copy(body, to: out, what: what, key: key) { chunk in sha?.update(chunk); md5?.update(chunk) }
        if let expected = checksums.sha256, let got = sha.take()?.finish(), got != expected {
            throw StoreError(.checksumMismatch, "\(what): the bytes do not match their SHA-256", key: key)
        }
        if let expected = checksums.md5, let got = md5.take()?.finish(), got != expected {
            throw StoreError(.checksumMismatch, "\(what): the bytes do not match their MD5", key: key)
        }
        guard fsync(out) == 0 else { throw posixError(what, key) }
        close(out)
        ok = true
        guard rename(temp, target) == 0 else { let e = errno; unlink(temp); throw posixError(what, key, e) }
        syncFolder(folder)
        return ObjectInfo(key: key, size: body.length, etag: checksums.md5?.hex)
    }

    public func get(_ key: String, range: ByteRange?, into sink: ObjectSink) throws -> GetResult {
        let what = "download of \(key)"
        let file = try path(for: key)
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { try requireRoot() }
            throw posixError(what, key)
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw posixError(what, key) }
        guard st.st_mode & S_IFMT == S_IFREG else { throw StoreError(.notFound, "\(what): no such object", key: key) }
        let size = UInt64(st.st_size)
        var first: UInt64 = 0, count = size
        if let range {
            guard range.first < size else {
                throw StoreError(.invalidRange, "\(what): the range \(range) starts past the end (\(size) bytes)", status: 416, key: key)
            }
            first = range.first
            count = min(range.last, size - 1) - range.first + 1
        }
        var bytes: [UInt8] = []
        var done: UInt64 = 0
        let blockSize = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: blockSize, alignment: 16)
        defer { buffer.deallocate() }
        while done < count {
            let n = pread(fd, buffer.baseAddress, Int(min(UInt64(blockSize), count - done)), off_t(first + done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw n == 0 ? StoreError(.io, "\(what): the file ended early", key: key) : posixError(what, key) }
            switch sink {
            case .memory: bytes.append(contentsOf: buffer[0..<n])
            case .file(let out, let offset):
                try writeAll(out, UnsafeRawBufferPointer(rebasing: buffer[0..<n]), at: offset + done, what: what, key: key)
            }
            done += UInt64(n)
        }
        return GetResult(info: ObjectInfo(key: key, size: size), bytes: bytes, length: done)
    }

    public func head(_ key: String) throws -> ObjectInfo {
        var st = stat()
        guard stat(try path(for: key), &st) == 0 else {
            if errno == ENOENT { try requireRoot() }
            throw posixError("HEAD of \(key)", key)
        }
        guard st.st_mode & S_IFMT == S_IFREG else { throw StoreError(.notFound, "HEAD of \(key): no such object", key: key) }
        return ObjectInfo(key: key, size: UInt64(st.st_size))
    }

    public func delete(_ key: String) throws {
        let file = try path(for: key)
        if unlink(file) != 0 {
            if errno == ENOENT || errno == ENOTDIR { return }
            throw posixError("delete of \(key)", key)
        }
        // Remove folders the object leaves empty, so the tree mirrors the keys.
        var folder = String(file[..<file.lastIndex(of: "/")!])
        while folder.count > root.count, rmdir(folder) == 0 {
            folder = String(folder[..<folder.lastIndex(of: "/")!])
        }
    }

    public func delete(keys: [String]) throws -> [String: StoreError] { deleteEach(self, keys) }

    public func list(prefix: String, continuation: String?, limit: Int) throws -> ListPage {
        try requireRoot()
        // Walk only the folder the prefix names, then filter by the rest of it.
        let folderKey = prefix.contains("/") ? String(prefix[...prefix.lastIndex(of: "/")!].dropLast()) : ""
        var keys: [(key: String, size: UInt64)] = []
        let start = folderKey.isEmpty ? root : try path(for: folderKey)
        walk(start, keyPrefix: folderKey.isEmpty ? "" : folderKey + "/", into: &keys)
        // S3's order: the keys' UTF-8 bytes compared; a continuation is the last key already returned.
        let after = continuation.map { Array($0.utf8) } ?? []
        let selected = keys.filter { $0.key.hasPrefix(prefix) }
            .map { (key: $0.key, size: $0.size, bytes: Array($0.key.utf8)) }
            .filter { continuation == nil || after.lexicographicallyPrecedes($0.bytes) }
            .sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) }
        let page = selected.prefix(max(1, limit))
        return ListPage(objects: page.map { ObjectInfo(key: $0.key, size: $0.size) },
                        continuation: selected.count > page.count ? page.last?.key : nil)
    }

    public func createContainer() throws {
        try makeFolders(root, what: "creation of the local store folder", key: nil)
    }

    // MARK: Files

    private func walk(_ folder: String, keyPrefix: String, into keys: inout [(key: String, size: UInt64)]) {
        guard let dir = opendir(folder) else { return }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name == "." || name == ".." || name.hasPrefix(LocalStore.temporaryPrefix) { continue }
            let full = folder + "/" + name
            var st = stat()
            guard lstat(full, &st) == 0 else { continue }
            let key = keyPrefix + LocalStore.unescape(segment: name)
            if st.st_mode & S_IFMT == S_IFDIR { walk(full, keyPrefix: key + "/", into: &keys) }
            else if st.st_mode & S_IFMT == S_IFREG { keys.append((key, UInt64(st.st_size))) }
        }
    }

    private func makeFolders(_ folder: String, what: String, key: String?) throws {
        var st = stat()
        if stat(folder, &st) == 0 && st.st_mode & S_IFMT == S_IFDIR { return }
        // mkdir -p: every ancestor, then the folder itself.
        var paths = folder.indices.filter { folder[$0] == "/" && $0 != folder.startIndex }.map { String(folder[..<$0]) }
        paths.append(folder)
        for p in paths where mkdir(p, 0o700) != 0 && errno != EEXIST { throw posixError(what, key) }
        guard stat(folder, &st) == 0 && st.st_mode & S_IFMT == S_IFDIR else { throw posixError(what, key, ENOTDIR) }
    }

    private func syncFolder(_ folder: String) {
        let fd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 { _ = fsync(fd); close(fd) }
    }

    private func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: UInt64, what: String, key: String?) throws {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw posixError(what, key) }
            done += n
        }
    }

    private func copy(_ body: ObjectBody, to out: Int32, what: String, key: String,
                      observe: (UnsafeRawBufferPointer) -> Void) throws {
        switch body {
        case .empty: return
        case .bytes(let b):
            try b.withUnsafeBytes { observe($0); try writeAll(out, $0, at: 0, what: what, key: key) }
        case .file(let fd, let offset, let length):
            do {
                try FileRegion.forEachBlock(fd, offset: offset, length: length) { block, at in
                    observe(block)
                    try writeAll(out, block, at: at, what: what, key: key)
                }
            } catch let e as FileRegion.ReadError {
                throw StoreError(.io, "\(what): cannot read the file to upload: \(e)", key: key)
            }
        }
    }
}
