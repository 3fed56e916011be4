// Checksums of a chunk computed while sequential writes arrive, so an upload does not read the chunk
// a second time to hash it. A write that is not the next bytes of the chunk drops the hasher; the
// upload then hashes the file.
import Platform
import ObjectStore
#if canImport(Glibc)
import Glibc
#endif

final class ChunkHasher: @unchecked Sendable {
    private var sha: Digest?
    private var md5: Digest?
    /// Bytes hashed so far, from the chunk's start.
    private(set) var length: UInt64 = 0
    /// The chunk version the hashes belong to.
    var version: Int
    private var finished: Checksums?

    init(version: Int, md5: Bool) {
        self.version = version
        sha = Digest(.sha256)
        self.md5 = md5 ? Digest(.md5) : nil
    }

    /// Adds the bytes written at `offset`; false (and useless from then on) unless they continue the chunk.
    func add(_ bytes: UnsafeRawBufferPointer, at offset: UInt64, version: Int) -> Bool {
        guard finished == nil, offset == length, sha != nil else { return false }
        sha!.update(bytes)
        md5?.update(bytes)
        length += UInt64(bytes.count)
        self.version = version
        return true
    }

    /// The checksums, when the hasher saw exactly `length` bytes and has every kind asked for.
    func sums(length expected: UInt64, kinds: ChecksumKinds) -> Checksums? {
        guard length == expected else { return nil }
        if finished == nil {
            guard sha != nil else { return nil }
            if kinds.contains(.md5) && md5 == nil { return nil }
            finished = Checksums(sha256: sha.take()!.finish(), md5: md5.take()?.finish())
        }
        if kinds.contains(.md5) && finished?.md5 == nil { return nil }
        return finished
    }

    /// Hashes `length` bytes of a chunk file: SHA-256 always (the manifest lists it), MD5 when asked.
    static func hashFile(_ fd: Int32, length: UInt64, kinds: ChecksumKinds) throws -> Checksums {
        var sha = Digest(.sha256)
        var md5: Digest? = kinds.contains(.md5) ? Digest(.md5) : nil
        do {
            try FileRegion.forEachBlock(fd, length: length) { block, _ in
                sha.update(block)
                md5?.update(block)
            }
        } catch {
            throw VolumeError(.io, "cannot read a chunk file to hash it: \(error)")
        }
        return Checksums(sha256: sha.finish(), md5: md5.take()?.finish())
    }
}
