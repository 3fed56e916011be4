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
            do { try FileRegion.forEachBlock(fd, offset: offset, length: length) { block, _ in digest.update(block) } } catch {
                throw StoreError(.io, "\(what): cannot read the file to hash it: \(error)")
            }
        }
        return digest.finish()
    }
}
