// Eight processes writing eight volumes through one cache folder at once (chunkvol-crashwriter,
// with a cache small enough that each process evicts the others' chunks); while they write, this
// process opens the volumes read-only and checks that what it sees is what was written; a second
// writer is refused with the first one named. At the end every volume is whole on the store.
import Foundation
import Chunkvol
import ObjectStore
#if canImport(Glibc)
import Glibc
#endif

public enum ConcurrencyScenario {
    public static var writer: String {
        URL(fileURLWithPath: ChildProcess.chunkctl).deletingLastPathComponent().appendingPathComponent("chunkvol-crashwriter").path
    }

    /// `storeOptions`: the option string without cache=; `raw`: the same store, to read the chunks.
    /// Returns a summary line for the README's Reliability table.
    @discardableResult
    public static func run(storeOptions: String, environment: [String: String], raw: any ObjectStore,
                           processes: Int = 8, bytes: Int = 700_000, tag: String) throws -> String {
        let folder = TemporaryFolder("concurrency")
        let options = storeOptions + ",cache=\(folder.path)/cache,chunksize=16K,uploads=2,cachesize=2M,space_timeout=120"
        let volumes = (0..<processes).map { "\(tag)-\($0)" }
        var pids: [pid_t] = []
        for (i, v) in volumes.enumerated() {
            pids.append(try ChildProcess.spawn(writer, [options, v, String(500 + i), String(bytes)], environment: environment,
                                               stdout: folder.path + "/out-\(i)", stderr: folder.path + "/err-\(i)"))
        }
        var killed = false
        defer { if !killed { for p in pids { kill(p, SIGKILL); _ = ChildProcess.wait(p) } } }
        let streams = (0..<processes).map { randomBytes(bytes, seed: UInt64(500 + $0)) }

        // While they write: readers see a prefix of each stream (the writers only ever write the
        // stream's bytes at their own offsets), never other bytes; a second writer is refused.
        let reader = try VolumeStore(options: options, environment: environment, recover: false)
        var reads = 0, bytesRead = 0, refused = 0
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, pids.contains(where: { waitpid($0, nil, WNOHANG) == 0 }) {
            for (i, v) in volumes.enumerated() {
                guard let h = try? reader.open(v, mode: .read) else { continue }
                defer { try? h.close() }
                let got: [UInt8]
                do { got = try h.read(count: bytes + 1) } catch let e as VolumeError where "\(e)".contains("read again") { continue }
                try check(got.count <= bytes && got == Array(streams[i].prefix(got.count)),
                          "reader: volume \(v) shows \(got.count) bytes that are not what its writer wrote")
                reads += 1; bytesRead += got.count
            }
            if refused == 0, let busy = volumes.first {
                do {
                    let w = try reader.open(busy, mode: .write)
                    try w.close()
                } catch let e as VolumeError where e.kind == .notFound {
                    // not created yet
                } catch let e as VolumeError where e.kind == .busy {
                    try check("\(e)".contains("crashwriter"), "the busy error names the writer: \(e)")
                    refused += 1
                }
            }
            usleep(20_000)
        }
        _ = reader.close(timeout: 0)
        var failures: [String] = []
        for (i, p) in pids.enumerated() {
            let (status, _) = ChildProcess.wait(p)
            let out = (try? String(contentsOfFile: folder.path + "/out-\(i)", encoding: .utf8)) ?? ""
            if status != 0 || !out.contains("done") {
                failures.append("writer \(i) exit \(status): \((try? String(contentsOfFile: folder.path + "/err-\(i)", encoding: .utf8)) ?? "")")
            }
        }
        killed = true
        try check(failures.isEmpty, "writers failed: \(failures.joined(separator: "\n"))")
        try check(reads > 0, "the readers read nothing while the writers wrote")

        // Every volume whole, on the store and through the device, and verify finds nothing wrong.
        let store = try VolumeStore(options: options, environment: environment)
        defer { _ = store.close(timeout: 60) }
        for (i, v) in volumes.enumerated() {
            let keys = try raw.listAll(prefix: v + "/")
            let stored = try keys.flatMap { try raw.get($0.key, range: nil, into: .memory).bytes }
            try check(stored == streams[i], "volume \(v): the store's chunks are not the stream (\(stored.count) bytes)")
            let problems = try store.verify(v, data: true).problems
            try check(problems.isEmpty, "volume \(v): \(problems)")
            try store.remove(v)
        }
        return "\(processes) processes x \(bytes) bytes through one cache (cachesize=2M), \(reads) reads (\(bytesRead) bytes) during the writes checked, \(refused) second writer refused"
    }
}
