// chunkctl ls: every volume on the store and in the cache, one line each.
import ArgumentParser
import Foundation
import Chunkvol
import ObjectStore

struct Ls: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the volumes on the store and in the cache: size, chunk size, chunks, dirty chunks, last change.",
        discussion: """
        WHERE says whether a volume has a manifest on the store, a record in the cache, or both. A volume whose figures cannot be read (a damaged manifest, say) is listed with the reason, and chunkctl exits 1.

        Example: chunkctl -o backend=s3,endpoint=http://127.0.0.1:7480,bucket=backups ls --json
        """)
    @OptionGroup var global: GlobalOptions
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let store = try global.openVolumes(recover: false)
        defer { store.close(timeout: 0) }
        let entries = try volumeReporting { try store.catalog() }
        if json {
            try printJSON(["volumes": entries.map { e -> [String: Any] in
                var d: [String: Any] = ["name": e.name, "on_store": e.onStore, "in_cache": e.inCache]
                if let s = e.stat {
                    d["size"] = s.size; d["chunk_size"] = s.chunkSize; d["chunks"] = s.chunks
                    d["dirty_chunks"] = s.dirtyChunks; d["updated"] = isoTime(s.updatedAt)
                }
                if let p = e.problem { d["problem"] = p }
                return d
            }])
        } else {
            var rows = [["VOLUME", "SIZE", "CHUNK SIZE", "CHUNKS", "DIRTY", "WHERE", "LAST CHANGE"]]
            for e in entries {
                let place = e.onStore && e.inCache ? "store+cache" : e.onStore ? "store" : "cache"
                if let s = e.stat {
                    rows.append([e.name, String(s.size), Options.formatSize(s.chunkSize), String(s.chunks), String(s.dirtyChunks),
                                 place, isoTime(s.updatedAt)])
                } else {
                    rows.append([e.name, "-", "-", "-", "-", place, "unreadable: " + (e.problem ?? "")])
                }
            }
            printTable(rows, rightAligned: [1, 3, 4])
            if entries.isEmpty { print("(no volumes on \(store.stack.backend.name))") }
        }
        if entries.contains(where: { $0.problem != nil }) { throw ExitCode(Failure.failed) }
    }
}

/// 2026-11-29T14:03:00Z
func isoTime(_ seconds: Double) -> String {
    let f = ISO8601DateFormatter()
    return f.string(from: Date(timeIntervalSince1970: seconds))
}

/// Columns padded to their widest cell; `rightAligned` columns (numbers) aligned right.
func printTable(_ rows: [[String]], rightAligned: Set<Int> = []) {
    guard let columns = rows.map(\.count).max() else { return }
    var widths = [Int](repeating: 0, count: columns)
    for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
    for r in rows {
        let cells = r.enumerated().map { i, c -> String in
            let pad = String(repeating: " ", count: widths[i] - c.count)
            return rightAligned.contains(i) ? pad + c : (i == r.count - 1 ? c : c + pad)
        }
        print(cells.joined(separator: "  "))
    }
}
