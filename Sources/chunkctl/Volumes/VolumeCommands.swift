// Volume verbs: import, export, flush, status. They open the VolumeStore the options name
// (its cache from cache=) and go through the device, as a storage daemon would.
import ArgumentParser
import Foundation
import Chunkvol
import ObjectStore
#if canImport(Glibc)
import Glibc
#endif

extension GlobalOptions {
    /// The volume store the options name. `recover: false` for verbs that only look: they neither
    /// reset nor start uploads another process may own.
    func openVolumes(recover: Bool = true) throws -> VolumeStore {
        let options = try parsed()
        do {
            let store = try VolumeStore(options: options, recover: recover)
            for w in store.warnings { printError("chunkctl: " + w) }
            return store
        } catch let e as VolumeError { throw Failure(e) }
    }
}

extension Failure {
    init(_ e: VolumeError) {
        switch e.kind {
        case .invalid: self.init(e.sentence, code: Failure.usage)
        case .accessDenied: self.init(e.sentence, code: Failure.unreachable)
        default:
            let unreachable = e.sentence.contains("cannot be reached") || e.sentence.contains("TLS failed")
            self.init(e.sentence, code: unreachable ? Failure.unreachable : Failure.failed)
        }
    }
}

/// "requests: PUT 13, GET 0, ..." for the requests this run made.
func requestLine(_ c: RequestCounts) -> String {
    "requests: " + RequestKind.allCases.map { "\($0.rawValue) \(c[$0])" }.joined(separator: ", ")
        + "; \(c.bytesUp) bytes up, \(c.bytesDown) down; \(c.retries) retries, \(c.failures) failures"
}

func volumeReporting<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as VolumeError { throw Failure(e) } catch { throw Failure.from(error) }
}

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write FILE (or standard input) as the volume VOLUME, then flush it to the store.",
        discussion: """
        The bytes go through the device in 1 MiB writes: chunk files in the cache, uploads under the upload policy, then a flush that waits for every chunk and the manifest. An existing volume is replaced, or with --append added to.

        Example: chunkctl -o backend=s3,endpoint=http://127.0.0.1:7480,bucket=backups import Full-0001 ./Full-0001
        """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The volume's name.") var volume: String
    @Argument(help: "The file to read, or - for standard input.") var file: String = "-"
    @Option(help: "Seconds the final flush may take.") var timeout: Double = 3600
    @Flag(help: "Add to the end of an existing volume instead of replacing it.") var append = false
    @Flag(help: "Do not wait for the store: close the volume (its bytes durable in the cache) and leave the uploads to the upload policy; with upload=manual the chunks stay dirty until chunkctl flush.") var noFlush = false

    func run() throws {
        let store = try global.openVolumes()
        let input = file == "-" ? 0 : open(file, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw Failure("cannot open \(file): \(String(cString: strerror(errno)))") }
        defer { if input != 0 { close(input) } }
        let started = Date()
        let total: UInt64 = try volumeReporting {
            let v = try store.open(volume, mode: append ? [.write, .create, .append] : [.write, .create, .truncate])
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            var total: UInt64 = 0
            while true {
                let n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n < 0 { throw Failure("cannot read \(file): \(String(cString: strerror(errno)))") }
                if n == 0 { break }
                try buffer.withUnsafeBytes { _ = try v.write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                total += UInt64(n)
            }
            if !noFlush { try v.flush(timeout: timeout) }
            try v.close()
            return total
        }
        store.close(timeout: timeout)
        let seconds = Date().timeIntervalSince(started)
        print("\(append ? "appended to" : "imported") \(volume): \(total) bytes in \(String(format: "%.2f", seconds)) s (\(String(format: "%.1f", Double(total) / 1_048_576 / max(seconds, 0.001))) MiB/s)" + (noFlush ? ", in the cache" : ", flushed"))
        print(requestLine(store.requestCounts))
    }
}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Read the volume VOLUME through the device into FILE (or standard output).",
        discussion: "Chunks not in the cache are downloaded whole, with read-ahead, and checked against the manifest's SHA-256.\n\nExample: chunkctl export Full-0001 ./restored")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The volume's name.") var volume: String
    @Argument(help: "Where to write it, or - for standard output.") var file: String = "-"

    func run() throws {
        let store = try global.openVolumes()
        let output = file == "-" ? 1 : open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard output >= 0 else { throw Failure("cannot write \(file): \(String(cString: strerror(errno)))") }
        defer { if output != 1 { close(output) } }
        try volumeReporting {
            let v = try store.open(volume, mode: .read)
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            while true {
                let n = try buffer.withUnsafeMutableBytes { try v.read(into: $0) }
                if n == 0 { break }
                var done = 0
                while done < n {
                    let w = buffer.withUnsafeBytes { write(output, $0.baseAddress! + done, n - done) }
                    if w < 0 && errno == EINTR { continue }
                    guard w > 0 else { throw Failure("cannot write \(file): \(String(cString: strerror(errno)))") }
                    done += w
                }
            }
            try v.close()
        }
        store.close(timeout: 60)
        if output != 1 { print(requestLine(store.requestCounts)) }
    }
}

struct Flush: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Upload the dirty chunks of VOLUME... (all volumes in the cache without one) and wait.",
        discussion: """
        Shows a progress bar (bytes, rate, time left) on a terminal, a plain line every few seconds otherwise. Exits 1 naming every chunk it could not upload, 3 when the store cannot be reached; the chunks stay dirty in the cache and a later flush (or the next open of the store) sends them.

        Example: chunkctl flush Full-0001 --timeout 600
        """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Volumes to flush (default: all in the cache).") var volumes: [String] = []
    @Option(help: "Seconds to wait at most.") var timeout: Double = 3600

    func run() throws {
        let store = try global.openVolumes()
        let meter = ProgressMeter(terminal: isatty(2) != 0)
        let skipped = try volumeReporting { try store.flush(volumes, timeout: timeout, progress: meter.show) }
        meter.finish()
        for s in skipped { printError("chunkctl: skipped: \(s); its writer uploads it") }
        store.close(timeout: timeout)
        print("flushed: " + (volumes.isEmpty ? "all volumes" : volumes.joined(separator: ", ")))
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the cache: folder, size and limit, dirty bytes, failed uploads, one line per volume.",
        discussion: "Example: chunkctl -o backend=local,path=/srv/chunkvol,cache=/var/cache/chunkvol status --json")
    @OptionGroup var global: GlobalOptions
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let store = try global.openVolumes(recover: false)
        let (cached, dirty) = try volumeReporting { try store.cache.index.usage() }
        let uploading = try volumeReporting { try store.cache.index.chunks(in: [.uploading]) }.count
        let volumes = try volumeReporting { try store.cache.index.volumes() }
        var rows: [[String: Any]] = []
        for v in volumes {
            let chunks = (try? store.cache.index.chunks(of: v.name)) ?? []
            let count = v.chunkCount
            let live = chunks.filter { $0.number < count }
            rows.append(["name": v.name, "size": v.size, "chunk_size": v.chunkSize, "chunks": count,
                         "cached_chunks": live.filter(\.cached).count,
                         "dirty_chunks": live.filter { $0.state != .clean }.count,
                         "manifest_current": v.storedGeneration == v.generation,
                         "errors": live.compactMap(\.error)])
        }
        if json {
            try printJSON(["cache": store.configuration.cacheFolder, "cached_bytes": cached, "dirty_bytes": dirty,
                           "limit_bytes": store.configuration.cacheSize, "uploads_in_flight": uploading, "volumes": rows])
        } else {
            print("cache \(store.configuration.cacheFolder): \(cached) bytes cached of \(store.configuration.cacheSize) allowed, \(dirty) dirty, \(uploading) upload(s) in flight")
            print("store \(store.stack.backend.name)")
            for r in rows {
                print("  \(r["name"]!): \(r["size"]!) bytes, \(r["chunks"]!) chunks of \(r["chunk_size"]!), \(r["cached_chunks"]!) cached, \(r["dirty_chunks"]!) dirty, manifest \((r["manifest_current"] as! Bool) ? "current" : "stale")")
                for e in r["errors"] as! [String] { print("    failed: \(e)") }
            }
        }
        store.close(timeout: 0)
    }
}

struct Evict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Drop the clean chunks of VOLUME... (all volumes without one) from the cache; never a dirty one.",
        discussion: "Reads of evicted chunks download them again, checked against the manifest.\n\nExample: chunkctl evict Full-0001")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Volumes to evict (default: all).") var volumes: [String] = []

    func run() throws {
        let store = try global.openVolumes()
        let freed = try volumeReporting { try store.evict(volumes) }
        store.close(timeout: 0)
        print("evicted \(freed) bytes of clean chunks")
    }
}
