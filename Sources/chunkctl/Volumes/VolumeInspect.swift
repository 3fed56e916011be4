// chunkctl inspect: one volume's chunks as the cache and the store see them.
import ArgumentParser
import Foundation
import Chunkvol
import ObjectStore

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show each chunk of VOLUME: number, length, state in the cache, checksum, whether it is cached and on the store.",
        discussion: """
        STATE is the cache's: dirty (changed, not uploaded), uploading, clean (the store holds these bytes), or - when the cache has no record. STORED is the size of the chunk's object on the store, or "missing". Nothing is changed or downloaded beyond the manifest and one listing.

        Example: chunkctl inspect Full-0001 --json
        """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The volume's name.") var volume: String
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let store = try global.openVolumes(recover: false)
        defer { store.close(timeout: 0) }
        let ins = try volumeReporting { try store.inspect(volume) }
        if json {
            var d: [String: Any] = ["volume": ins.name, "size": ins.size, "chunk_size": ins.chunkSize,
                                    "chunks": ins.chunks.map { c -> [String: Any] in
                                        var r: [String: Any] = ["number": c.number, "length": c.length, "cached": c.cached,
                                                                "on_store": c.storedSize != nil,
                                                                "state": c.state?.rawValue ?? NSNull()]
                                        r["stored_size"] = c.storedSize ?? NSNull()
                                        r["sha256"] = c.sha256 ?? NSNull()
                                        return r
                                    },
                                    "orphans": ins.orphans.map { ["number": $0.number, "size": $0.size] }]
            d["manifest"] = ins.manifest.map { ["generation": $0.generation, "size": $0.size, "chunk_size": $0.chunkSize, "updated": $0.updated] as [String: Any] } ?? NSNull()
            d["manifest_problem"] = ins.manifestProblem ?? NSNull()
            d["cache"] = ins.local.map { ["generation": $0.generation, "stored_generation": $0.storedGeneration ?? -1,
                                          "updated": isoTime($0.updatedAt)] as [String: Any] } ?? NSNull()
            try printJSON(d)
            return
        }
        print("volume \(ins.name): \(ins.size) bytes in \(ins.chunks.count) chunk(s) of \(Options.formatSize(ins.chunkSize))")
        if let m = ins.manifest { print("manifest: generation \(m.generation), \(m.size) bytes, updated \(m.updated)") }
        if let p = ins.manifestProblem { print("manifest: \(p)") }
        if let l = ins.local {
            print("cache: generation \(l.generation), manifest written for \(l.storedGeneration.map(String.init) ?? "none"), changed \(isoTime(l.updatedAt))")
        } else {
            print("cache: no record of this volume")
        }
        var rows = [["CHUNK", "LENGTH", "STATE", "CACHED", "STORED", "SHA-256"]]
        for c in ins.chunks {
            rows.append([String(c.number), String(c.length), c.state?.rawValue ?? "-", c.cached ? "yes" : "no",
                         c.storedSize.map(String.init) ?? "missing", c.sha256 ?? "-"])
        }
        printTable(rows, rightAligned: [0, 1, 4])
        for o in ins.orphans { print("orphan: chunk \(o.number) (\(o.size) bytes) lies past the volume's end") }
    }
}
