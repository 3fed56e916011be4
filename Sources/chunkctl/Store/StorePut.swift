import ArgumentParser
import Foundation
import ObjectStore
#if canImport(Glibc)
import Glibc
#endif

struct StorePut: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "put",
        abstract: "Upload FILE (or standard input, -) as the object KEY.",
        discussion: """
        The file is streamed, never read whole into memory. Standard input is first spooled to a temporary file so that a retry can send it again.

        Example: chunkctl store put vol1/0000 chunk.bin
        """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The object's key.") var key: String
    @Argument(help: "The file to upload, or - for standard input.") var file: String
    @Flag(help: "Print the result as JSON.") var json = false

    func validate() throws { try validateKey(key) }

    func run() throws {
        let stack = try global.openStore()
        let source = try InputFile(file)
        defer { source.close() }
        let info = try reporting {
            try stack.store.put(key, body: .file(descriptor: source.fd, offset: 0, length: source.length), checksums: .none)
        }
        if json { try printJSON(objectJSON(info)) } else { print("\(info.key)\t\(info.size)\t\(info.etag ?? "-")") }
    }
}

/// A file to read from, or standard input spooled to an unlinked temporary file.
struct InputFile {
    let fd: Int32
    let length: UInt64

    init(_ path: String) throws {
        if path == "-" {
            var template = Array((NSTemporaryDirectory() + "/chunkctl-stdin-XXXXXX").utf8CString)
            let tmp = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
            guard tmp >= 0 else { throw Failure("cannot create a temporary file to spool standard input: \(String(cString: strerror(errno)))") }
            template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            var total: UInt64 = 0
            while true {
                let n = read(0, &buffer, buffer.count)
                if n < 0 && errno == EINTR { continue }
                if n < 0 { throw Failure("cannot read standard input: \(String(cString: strerror(errno)))") }
                if n == 0 { break }
                var done = 0
                while done < n {
                    let w = buffer.withUnsafeBytes { write(tmp, $0.baseAddress! + done, n - done) }
                    guard w > 0 else { throw Failure("cannot spool standard input: \(String(cString: strerror(errno)))") }
                    done += w
                }
                total += UInt64(n)
            }
            fd = tmp; length = total
        } else {
            fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw Failure("cannot open \(path): \(String(cString: strerror(errno)))") }
            var st = stat()
            guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
                Glibc.close(fd)
                throw Failure("\(path) is not a regular file; use - to read standard input")
            }
            length = UInt64(st.st_size)
        }
    }

    func close() { _ = Glibc.close(fd) }
}
