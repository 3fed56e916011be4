// chunkctl cost: what the requests this cache's volumes made cost, from the persistent counters in
// the cache index; with --estimate, what keeping a backup of a given size would cost.
import ArgumentParser
import Foundation
import Chunkvol
import ObjectStore

struct Cost: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Report the requests made to the store by kind, bytes each way, retries, failures and their price.",
        discussion: """
        The counts come from the cache index, where every process using the cache adds its requests (they survive restarts); requests of no volume (listing volumes, creating the bucket, authenticating before a volume is named) are under ".store". Prices come from --prices FILE or the built-in AWS S3 Standard list (Spec/prices.md).

        With --estimate (no store needed): what writing a backup of --size, keeping it --months and restoring it --restores times costs, over several chunk sizes (or the one --chunksize names), so you can choose one.

        Examples:
          chunkctl cost --since 2026-11-01 --json
          chunkctl cost --estimate --size 2T --months 6 --restores 2
        """)
    @OptionGroup var global: GlobalOptions
    @Option(help: "Only this volume.") var volume: String?
    @Option(help: "Only requests from this day on (YYYY-MM-DD, UTC).") var since: String?
    @Option(help: "A price table file (default: the built-in AWS S3 Standard list).") var prices: String?
    @Flag(help: "Estimate the cost of keeping a backup instead of reporting the requests made.") var estimate = false
    @Option(help: "With --estimate: the backup's size (bytes, or with K, M, G, T).") var size: String?
    @Option(help: "With --estimate: only this chunk size.") var chunksize: String?
    @Option(help: "With --estimate: full restores over the period.") var restores: Int = 1
    @Option(help: "With --estimate: months the backup is kept.") var months: Double = 12
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        if estimate && size == nil { throw ValidationError("--estimate needs --size, such as --size 500G") }
        if !estimate && (size != nil || chunksize != nil) { throw ValidationError("--size and --chunksize go with --estimate") }
        if restores < 0 || months < 0 { throw ValidationError("--restores and --months cannot be negative") }
        if let since, !Cost.isDay(since) { throw ValidationError("--since \(since.debugDescription) is not a day: give YYYY-MM-DD") }
    }

    static func isDay(_ text: String) -> Bool {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX"); f.timeZone = TimeZone(identifier: "UTC"); f.dateFormat = "yyyy-MM-dd"
        return text.count == 10 && f.date(from: text) != nil
    }

    func run() throws {
        let table = try PriceTable.load(path: prices)
        if estimate { return try runEstimate(table) }
        let store = try global.openVolumes(recover: false)
        defer { store.close(timeout: 0) }
        var byVolume = try volumeReporting { try store.cache.index.counts(sinceDay: since ?? "") }
        if let volume { byVolume = byVolume.filter { $0.key == volume } }
        let total = byVolume.values.reduce(RequestCounts(), +)
        func fields(_ c: RequestCounts) -> [String: Any] {
            let p = table.price(c)
            return ["requests": Dictionary(uniqueKeysWithValues: RequestKind.allCases.map { ($0.rawValue, c[$0]) }),
                    "bytes_up": c.bytesUp, "bytes_down": c.bytesDown, "retries": c.retries, "failures": c.failures,
                    "price": ["currency": table.currency, "requests": p.requests, "transfer": p.transfer, "total": p.requests + p.transfer]]
        }
        let label = { (name: String) in name.isEmpty ? ".store" : name }
        if json {
            var d = fields(total)
            d["volumes"] = Dictionary(uniqueKeysWithValues: byVolume.map { (label($0.key), fields($0.value)) })
            d["since"] = since ?? NSNull()
            d["prices"] = table.name
            try printJSON(d)
            return
        }
        print("requests to \(store.stack.backend.name)" + (since.map { " since \($0)" } ?? "") + ", from the counters in \(store.configuration.cacheFolder)/index.sqlite")
        var rows = [["VOLUME"] + RequestKind.allCases.map(\.rawValue) + ["BYTES UP", "BYTES DOWN", "RETRIES", "FAILURES", "PRICE " + table.currency]]
        func row(_ name: String, _ c: RequestCounts) -> [String] {
            let p = table.price(c)
            return [name] + RequestKind.allCases.map { String(c[$0]) }
                + [String(c.bytesUp), String(c.bytesDown), String(c.retries), String(c.failures), money(p.requests + p.transfer)]
        }
        for (name, c) in byVolume.sorted(by: { $0.key < $1.key }) { rows.append(row(label(name), c)) }
        rows.append(row("total", total))
        printTable(rows, rightAligned: Set(1..<rows[0].count))
        let p = table.price(total)
        print("price under \(table.name): requests \(money(p.requests)) + transfer \(money(p.transfer)) = \(money(p.requests + p.transfer)) \(table.currency)")
    }

    func runEstimate(_ table: PriceTable) throws {
        guard let bytes = Options.parseSize(size!), bytes > 0 else {
            throw Failure("--size \(size!.debugDescription) is not a size; give bytes or a number with K, M, G or T", code: Failure.usage)
        }
        var sizes: [UInt64] = [8 << 20, 16 << 20, 32 << 20, 64 << 20, 128 << 20, 256 << 20, 512 << 20, 1 << 30]
        if let chunksize {
            guard let c = Options.parseSize(chunksize), c >= 4096, c <= 5 << 30 else {
                throw Failure("--chunksize \(chunksize.debugDescription) is not a chunk size from 4K to 5G", code: Failure.usage)
            }
            sizes = [c]
        }
        let rows = sizes.map { CostEstimate(size: bytes, chunkSize: $0, restores: restores, months: months, prices: table) }
        if json {
            try printJSON(["size": bytes, "months": months, "restores": restores, "currency": table.currency, "prices": table.name,
                           "rows": rows.map { r -> [String: Any] in
                               ["chunk_size": r.chunkSize, "chunks": r.chunks,
                                "requests": ["PUT": r.puts, "GET": r.gets, "LIST": r.lists],
                                "price": ["requests": r.requestPrice, "storage": r.storagePrice, "restores": r.restorePrice, "total": r.total]]
                           }])
            return
        }
        print("a backup of \(Options.formatSize(bytes)) kept \(months.formatted()) month(s), restored \(restores) time(s), under \(table.name):")
        var out = [["CHUNK SIZE", "CHUNKS", "PUT", "GET", "REQUESTS", "STORAGE", "RESTORES", "TOTAL " + table.currency]]
        for r in rows {
            out.append([Options.formatSize(r.chunkSize), String(r.chunks), String(r.puts), String(r.gets),
                        money(r.requestPrice), money(r.storagePrice), money(r.restorePrice), money(r.total)])
        }
        printTable(out, rightAligned: Set(0..<out[0].count))
        print("requests: one PUT per chunk and the manifest to write it, one GET per chunk and the manifest per restore; larger chunks mean fewer requests but more cache (chunk size x (uploads + 1)) and more bytes sent again when a chunk is rewritten")
    }
}

/// The requests and prices of one backup written once, kept, and restored.
struct CostEstimate {
    var chunkSize: UInt64, chunks: Int, puts: Int, gets: Int, lists: Int
    var requestPrice: Double, storagePrice: Double, restorePrice: Double
    var total: Double { requestPrice + storagePrice + restorePrice }

    init(size: UInt64, chunkSize: UInt64, restores: Int, months: Double, prices: PriceTable) {
        self.chunkSize = chunkSize
        chunks = VolumeLayout.chunkCount(size: size, chunkSize: chunkSize)
        // Writing: the chunks and the manifest; the open of a new volume asks for its manifest (a GET
        // answered "not found") and lists its chunk folder. Each restore: the manifest and the chunks.
        puts = chunks + 1
        lists = 1
        let restoreGets = chunks + 1
        gets = 1 + restores * restoreGets
        func req(_ k: RequestKind, _ n: Int) -> Double { Double(n) / 1000 * (prices.perThousand[k] ?? 0) }
        requestPrice = req(.PUT, puts) + req(.GET, 1) + req(.LIST, lists)
            + Double(size) / PriceTable.gigabyte * prices.ingressGB
        storagePrice = Double(size) / PriceTable.gigabyte * prices.storageGBMonth * months
        restorePrice = Double(restores) * (req(.GET, restoreGets) + Double(size) / PriceTable.gigabyte * prices.egressGB)
    }
}
