// chunkctl verify and repair: compare the manifest, the store's listing and the cache; put right
// what can be put right.
import ArgumentParser
import Foundation
import Chunkvol

func problemJSON(_ p: VolumeProblem) -> [String: Any] {
    ["kind": p.kind.rawValue, "chunk": p.chunk ?? NSNull(), "message": p.message]
}

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check VOLUME: manifest against the store's listing against the cache (sizes, chunk count, checksums).",
        discussion: """
        Reports each difference in a sentence naming the chunk: manifest missing, not valid or stale; a chunk missing on the store or of the wrong size; a chunk not uploaded yet; a cache file of the wrong size; a chunk object past the volume's end. With --data every chunk is downloaded and hashed against the manifest's SHA-256, and every clean chunk file in the cache is hashed too. Exits 1 when anything differs.

        Example: chunkctl verify Full-0001 --data
        """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The volume's name.") var volume: String
    @Flag(help: "Download and hash every chunk (and hash the cached ones).") var data = false
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let store = try global.openVolumes(recover: false)
        defer { store.close(timeout: 0) }
        let report = try volumeReporting { try store.verify(volume, data: data) }
        let ins = report.inspection
        if json {
            try printJSON(["volume": volume, "ok": report.problems.isEmpty, "chunks": ins.chunks.count, "size": ins.size,
                           "bytes_hashed": report.bytesHashed, "problems": report.problems.map(problemJSON)])
        } else {
            for p in report.problems { print("problem: \(p.message)") }
            let hashed = data ? ", \(report.bytesHashed) bytes hashed" : ""
            print("volume \(volume): \(ins.chunks.count) chunk(s), \(ins.size) bytes\(hashed): "
                  + (report.problems.isEmpty ? "OK" : "\(report.problems.count) problem(s)"))
        }
        if !report.problems.isEmpty { throw ExitCode(Failure.failed) }
    }
}

struct Repair: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Put right what verify finds in VOLUME, where it can be put right.",
        discussion: """
        Uploads dirty chunks; uploads again from the cache a chunk that is missing, short or (with --data) changed on the store; drops a damaged cache copy when the store's is good; rewrites a missing or stale manifest from the cache, or rebuilds it from the store's listing (downloading and hashing every chunk) when the cache does not know the volume; lists chunk objects past the volume's end and removes them with --remove-orphans. Dirty chunk files are never discarded. Then verifies again: exits 0 when nothing is left, 1 naming what could not be restored.

        Example: chunkctl repair Full-0001 --data --remove-orphans
        """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The volume's name.") var volume: String
    @Flag(help: "Download and hash every chunk to find changed ones.") var data = false
    @Flag(help: "Remove chunk objects past the volume's end.") var removeOrphans = false
    @Option(help: "Seconds the uploads may take.") var timeout: Double = 3600
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let store = try global.openVolumes()
        let report = try volumeReporting { try store.repair(volume, data: data, removeOrphans: removeOrphans, timeout: timeout) }
        store.close(timeout: timeout)
        if json {
            try printJSON(["volume": volume, "ok": report.remaining.isEmpty, "actions": report.actions,
                           "remaining": report.remaining.map(problemJSON)])
        } else {
            for a in report.actions { print("repaired: \(a)") }
            for p in report.remaining {
                print("remaining: \(p.message)" + (p.kind == .orphan && !removeOrphans ? " (remove with --remove-orphans)" : ""))
            }
            print("volume \(volume): " + (report.remaining.isEmpty ? "OK" : "\(report.remaining.count) problem(s) could not be repaired"))
        }
        if !report.remaining.isEmpty { throw ExitCode(Failure.failed) }
    }
}
