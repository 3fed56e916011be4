// Hashes an upload body when the caller did not bring its checksum: one extra read of the region.
// Writers that hash while they write (the volume layer) avoid this pass.
import Platform
#if canImport(Glibc)
import Glibc
#endif

enum BodyHasher {
    static func hash(_ body: ObjectBody, _ algorithm: Digest.Algorithm, what: String) throws -> [UInt8] {
        var digest = Digest(algorithm)
        switch body {
        case .empty: break
        case .bytes(let b): digest.update(b)
        case .file(let fd, let offset, let length):
            let blockSize = 1 << 20
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: blockSize, alignment: 16)
            defer { buffer.deallocate() }
            var done: UInt64 = 0
            while done < length {
                let want = Int(min(UInt64(blockSize), length - done))
                let n = pread(fd, buffer.baseAddress, want, off_t(offset + done))
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    throw StoreError(.io, "\(what): cannot read the file to hash it: "
                                     + (n == 0 ? "it ended early" : String(cString: strerror(errno))))
                }
                digest.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                done += UInt64(n)
            }
        }
        return digest.finish()
    }
}
