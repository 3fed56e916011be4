import ArgumentParser
import Foundation
import ObjectStore
#if canImport(Glibc)
import Glibc
#endif

struct StoreGet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Download the object KEY to FILE (default: standard output).",
        discussion: """
        The body is streamed into the file. A file is written whole or, on failure, not at all.

        Examples:
          chunkctl store get vol1/0000 chunk.bin
          chunkctl store get vol1/0000 - --range 0-99
        """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The object's key.") var key: String
    @Argument(help: "Where to write it, or - for standard output.") var file: String = "-"
    @Option(help: ArgumentHelp("Only bytes FIRST to LAST (inclusive, from 0).", valueName: "FIRST-LAST")) var range: String?

    func validate() throws { try validateKey(key) }

    func run() throws {
        var byteRange: ByteRange? = nil
        if let range {
            let parts = range.split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count == 2, let first = UInt64(parts[0]), let last = UInt64(parts[1]), first <= last else {
                throw Failure("--range \(range) must be FIRST-LAST with FIRST <= LAST, such as 0-1023", code: Failure.usage)
            }
            byteRange = ByteRange(first, last)
        }
        let stack = try global.openStore()
        if file == "-" {
            // Stream through an unlinked temporary file: standard output may be a pipe.
            var template = Array((NSTemporaryDirectory() + "/chunkctl-get-XXXXXX").utf8CString)
            let tmp = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
            guard tmp >= 0 else { throw Failure("cannot create a temporary file: \(String(cString: strerror(errno)))") }
            template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
            defer { close(tmp) }
            let result = try reporting { try stack.store.get(key, range: byteRange, into: .file(descriptor: tmp, offset: 0)) }
            try copyOut(tmp, length: result.length)
        } else {
            let partial = file + ".chunkctl-partial"
            let fd = open(partial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw Failure("cannot write \(file): \(String(cString: strerror(errno)))") }
            do {
                let result = try reporting { try stack.store.get(key, range: byteRange, into: .file(descriptor: fd, offset: 0)) }
                guard ftruncate(fd, off_t(result.length)) == 0, fsync(fd) == 0 else {
                    throw Failure("cannot write \(file): \(String(cString: strerror(errno)))")
                }
                close(fd)
                guard rename(partial, file) == 0 else { throw Failure("cannot write \(file): \(String(cString: strerror(errno)))") }
            } catch {
                close(fd); unlink(partial)
                throw error
            }
        }
    }

    private func copyOut(_ fd: Int32, length: UInt64) throws {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var offset: UInt64 = 0
        while offset < length {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, min($0.count, Int(length - offset)), off_t(offset)) }
            guard n > 0 else { throw Failure("cannot read back the download: \(String(cString: strerror(errno)))") }
            var done = 0
            while done < n {
                let w = buffer.withUnsafeBytes { write(1, $0.baseAddress! + done, n - done) }
                if w < 0 && errno == EINTR { continue }
                guard w > 0 else { throw Failure("cannot write to standard output: \(String(cString: strerror(errno)))") }
                done += w
            }
            offset += UInt64(n)
        }
    }
}
