// Reads a region of an open file in blocks with pread, retrying interrupted calls: the one loop
// behind hashing a chunk, copying a body and streaming it, so none of them reads a file whole.
#if canImport(Glibc)
import Glibc
#endif

public enum FileRegion {
    public struct ReadError: Error, CustomStringConvertible, Sendable {
        /// The errno of the failed read; nil when the file ended before the region did.
        public var code: Int32?
        public var description: String { code.map { String(cString: strerror($0)) } ?? "the file ended early" }
    }

    /// Calls `body` with each block of `length` bytes from `offset` on, and the block's offset
    /// within the region. Throws ReadError when a read fails or the file is shorter than the region.
    public static func forEachBlock(_ fd: Int32, offset: UInt64 = 0, length: UInt64, blockSize: Int = 1 << 20,
                                    _ body: (UnsafeRawBufferPointer, UInt64) throws -> Void) throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: blockSize, alignment: 16)
        defer { buffer.deallocate() }
        var done: UInt64 = 0
        while done < length {
            let n = pread(fd, buffer.baseAddress, Int(min(UInt64(blockSize), length - done)), off_t(offset + done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw ReadError(code: n == 0 ? nil : errno) }
            try body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]), done)
            done += UInt64(n)
        }
    }
}
