// chunkctl stats: the persistent counters and the cache's figures, for monitoring.
import ArgumentParser
import Foundation
import Chunkvol
import ObjectStore
import ChunkCache

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the request counters and cache figures (--prometheus for node_exporter's textfile collector).",
        discussion: """
        The counters are totals since the cache was made (the cost report's source); the cache figures are gauges. Write the output to a file that node_exporter's textfile collector reads, atomically:

          chunkctl stats --prometheus > /var/lib/node_exporter/chunkvol.prom.$$ && mv /var/lib/node_exporter/chunkvol.prom.$$ /var/lib/node_exporter/chunkvol.prom
        """)
    @OptionGroup var global: GlobalOptions
    @Flag(help: "Prometheus text exposition format.") var prometheus = false
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let store = try global.openVolumes(recover: false)
        defer { store.close(timeout: 0) }
        let counts = try volumeReporting { try store.cache.index.countsByKind() }
        let (cached, dirty) = try volumeReporting { try store.cache.index.usage() }
        let states = try volumeReporting { try store.cache.index.chunkStates() }
        let failing = try volumeReporting { try store.cache.index.chunks(in: [.dirty]) }.filter { $0.error != nil }.count
        let volumes = try volumeReporting { try store.cache.index.volumes() }.count
        let storeName = store.stack.backend.name
        if json {
            try printJSON(["store": storeName, "cached_bytes": cached, "dirty_bytes": dirty, "limit_bytes": store.configuration.cacheSize,
                           "volumes": volumes, "chunks": Dictionary(uniqueKeysWithValues: states.map { ($0.key.rawValue, $0.value) }),
                           "failed_uploads": failing,
                           "counters": counts.map { ["volume": $0.volume.isEmpty ? ".store" : $0.volume, "kind": $0.kind.rawValue,
                                                     "requests": $0.counts.total, "bytes_up": $0.counts.bytesUp, "bytes_down": $0.counts.bytesDown,
                                                     "retries": $0.counts.retries, "failures": $0.counts.failures] }])
            return
        }
        guard prometheus else {
            let total = counts.map(\.counts).reduce(RequestCounts(), +)
            print("store \(storeName); cache \(store.configuration.cacheFolder): \(cached) bytes cached of \(store.configuration.cacheSize), \(dirty) dirty, \(volumes) volume(s), \(failing) failed upload(s)")
            print(requestLine(total))
            return
        }
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(labels: [(String, String)], value: String)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for s in samples {
                let labels = ([("store", storeName)] + s.labels).map { "\($0.0)=\"\(Stats.escape($0.1))\"" }.joined(separator: ",")
                out += "\(name){\(labels)} \(s.value)\n"
            }
        }
        func vol(_ v: String) -> String { v.isEmpty ? ".store" : v }
        metric("chunkvol_requests_total", "counter", "Requests sent to the object store, by volume and kind.",
               counts.map { ([("volume", vol($0.volume)), ("kind", $0.kind.rawValue)], String($0.counts.total)) })
        metric("chunkvol_retries_total", "counter", "Requests that repeated a failed one, by volume and kind.",
               counts.map { ([("volume", vol($0.volume)), ("kind", $0.kind.rawValue)], String($0.counts.retries)) })
        metric("chunkvol_failures_total", "counter", "Requests that ended in an error, by volume and kind.",
               counts.map { ([("volume", vol($0.volume)), ("kind", $0.kind.rawValue)], String($0.counts.failures)) })
        let perVolume = Dictionary(grouping: counts, by: \.volume).mapValues { $0.map(\.counts).reduce(RequestCounts(), +) }
        metric("chunkvol_transfer_bytes_total", "counter", "Object bytes sent to (up) and received from (down) the store, by volume.",
               perVolume.sorted { $0.key < $1.key }.flatMap { v, c in
                   [([("volume", vol(v)), ("direction", "up")], String(c.bytesUp)), ([("volume", vol(v)), ("direction", "down")], String(c.bytesDown))]
               })
        metric("chunkvol_cache_bytes", "gauge", "Bytes of chunk files in the cache.", [([], String(cached))])
        metric("chunkvol_cache_dirty_bytes", "gauge", "Bytes in the cache not yet on the store.", [([], String(dirty))])
        metric("chunkvol_cache_limit_bytes", "gauge", "The cache's size limit (cachesize=).", [([], String(store.configuration.cacheSize))])
        metric("chunkvol_cache_chunks", "gauge", "Chunks recorded in the cache index, by state.",
               ChunkState.allStates.map { ([("state", $0.rawValue)], String(states[$0] ?? 0)) })
        metric("chunkvol_cache_failed_uploads", "gauge", "Dirty chunks whose last upload failed.", [([], String(failing))])
        metric("chunkvol_volumes", "gauge", "Volumes the cache index knows.", [([], String(volumes))])
        print(out, terminator: "")
    }

    /// Label values escape backslash, double quote and newline (the exposition format's rule).
    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }
}
