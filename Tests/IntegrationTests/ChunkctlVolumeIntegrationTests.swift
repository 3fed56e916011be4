// chunkctl's volume verbs against the real servers: every verb with its output (ChunkctlScenario);
// the cost report's counts equal to the requests a proxy saw on the wire; flush with the store
// away, then back.
import Foundation
import Testing
import ObjectStore
import Platform
import StoreTestSupport
import Chunkvol

@Suite("chunkctl volume verbs on real servers") struct ChunkctlVolumeIntegrationTests {
    func storeOptions(_ server: ServerEndpoint, _ container: String) -> String {
        server.options + (server.api.isS3 ? ",bucket=" : ",container=") + container
    }

    @Test(arguments: StoreAPI.allCases) func everyVerb(_ api: StoreAPI) throws {
        guard let server = try TestServers.require(api) else { return }
        let container = TestServers.containerName("verbs")
        let raw = try server.open(container: container).store
        try ChunkctlScenario(storeOptions: storeOptions(server, container), environment: server.environment, raw: raw)
            .runAll(volume: "Full-\(UInt16.random(in: 1000...9999))")
    }

    /// A workload of separate chunkctl processes through a proxy (import, append, export with a
    /// cold cache, truncate, rm); then `chunkctl cost --json`, read from the cache index, holds
    /// exactly the requests the proxy forwarded, kind by kind, and the bytes sent up.
    @Test(arguments: [StoreAPI.saioS3, .saioSwift]) func costEqualsTheRequestsOnTheWire(_ api: StoreAPI) throws {
        guard let server = try TestServers.require(api) else { return }
        let container = TestServers.containerName("cost")
        _ = try server.open(container: container)
        let proxy = try FaultProxy(upstream: server.baseURL)
        let folder = TemporaryFolder("cost-wire")
        let o = storeOptions(server.through(proxyPort: proxy.port), container) + ",cache=\(folder.path)/cache,chunksize=64K"
        func run(_ args: [String]) throws -> ChildResult {
            let r = try ChildProcess.chunkctl(["-o", o] + args, environment: server.environment)
            try check(r.status == 0, "chunkctl \(args): \(r.status) \(r.stderr)")
            return r
        }
        try run(["import", "Wire-0001", try folder.file("a", randomBytes(5 * 65_536 + 17, seed: 1))])
        try run(["import", "--append", "Wire-0001", try folder.file("b", randomBytes(2 * 65_536, seed: 2))])
        try run(["import", "Wire-0002", try folder.file("c", randomBytes(65_536, seed: 3))])
        try run(["evict"])
        try run(["export", "Wire-0001", folder.path + "/out"])
        try run(["truncate", "Wire-0001", "100000"])
        try run(["rm", "Wire-0002"])
        try run(["ls"])

        let report = try #require(try JSONSerialization.jsonObject(with: Data(run(["cost", "--json"]).stdout.utf8)) as? [String: Any])
        let counted = try #require(report["requests"] as? [String: Int])
        let log = try proxy.log()
        var wire: [String: Int] = [:]
        for e in log { wire[FaultProxy.kind(e, api: api).rawValue, default: 0] += 1 }
        for kind in RequestKind.allCases {
            #expect(counted[kind.rawValue] == wire[kind.rawValue] ?? 0,
                    "\(api) \(kind): cost reports \(counted[kind.rawValue] ?? -1), the proxy saw \(wire[kind.rawValue] ?? 0)")
        }
        let putBytes = log.filter { $0.method == "PUT" }.reduce(0) { $0 + ($1.bytes_in ?? 0) }
        #expect(report["bytes_up"] as? Int == putBytes, "bytes up: \(report["bytes_up"] ?? "?") counted, \(putBytes) on the wire")
        #expect(report["retries"] as? Int == 0 && report["failures"] as? Int == 0)
        #expect(counted["PUT"]! >= 9 && counted["GET"]! >= 7, "\(counted)")
        // Per volume: the two volumes' requests and the store's own add up to the total.
        let volumes = try #require(report["volumes"] as? [String: [String: Any]])
        #expect(Set(volumes.keys).isSuperset(of: ["Wire-0001", "Wire-0002"]), "\(volumes.keys)")
        let sum = volumes.values.reduce(0) { $0 + (($1["requests"] as? [String: Int])?.values.reduce(0, +) ?? 0) }
        #expect(sum == log.count)
    }

    /// flush with the store away: exit 3 (unreachable), each chunk named, nothing dropped; the
    /// same flush after the store is back: success, and the store holds every byte.
    @Test func flushWithTheStoreAwayThenBack() throws {
        guard let server = try TestServers.require(.saioS3) else { return }
        let container = TestServers.containerName("away")
        let raw = try server.open(container: container).store
        var proxy = try FaultProxy(upstream: server.baseURL)
        let port = proxy.port
        let folder = TemporaryFolder("away")
        let o = storeOptions(server.through(proxyPort: port), container)
            + ",cache=\(folder.path)/cache,chunksize=64K,upload=manual,retries=1,retry_time=2,connect_timeout=1,io_timeout=2"
        let data = randomBytes(3 * 65_536 + 5, seed: 77)
        func run(_ args: [String]) throws -> ChildResult { try ChildProcess.chunkctl(["-o", o] + args, environment: server.environment) }
        // Written into the cache only (upload=manual), as a daemon would before the store went away.
        do {
            let store = try VolumeStore(options: o, environment: server.environment)
            let v = try store.open("Away-0001", mode: [.write, .create])
            _ = try v.write(data)
            try v.close()
            _ = store.close(timeout: 10)
        }
        proxy.stop()
        let flushed = try run(["flush", "Away-0001"])
        #expect(flushed.status == 3, "\(flushed.status) \(flushed.stderr)")
        for n in 0..<4 { #expect(flushed.stderr.contains("chunk \(n) of volume Away-0001"), "chunk \(n) named: \(flushed.stderr)") }
        let status = try #require(try JSONSerialization.jsonObject(with: Data(run(["status", "--json"]).stdout.utf8)) as? [String: Any])
        #expect(status["dirty_bytes"] as? Int == data.count, "nothing dropped: \(status)")

        proxy = try FaultProxy(upstream: server.baseURL, port: port)
        defer { proxy.stop() }
        let again = try run(["flush", "Away-0001"])
        #expect(again.status == 0 && again.stdout == "flushed: Away-0001\n", "\(again.stderr)")
        let stored = try raw.listAll(prefix: "Away-0001/").flatMap { try raw.get($0.key, range: nil, into: .memory).bytes }
        #expect(stored == data)
        #expect(try run(["verify", "Away-0001", "--data"]).status == 0)
    }
}

@Suite("Processes sharing a cache, on a real server") struct ConcurrencyIntegrationTests {
    @Test func eightProcessesEightVolumesOneCacheOnSAIO() throws {
        guard let server = try TestServers.require(.saioS3) else { return }
        let container = TestServers.containerName("conc")
        let raw = try server.open(container: container).store
        let summary = try ConcurrencyScenario.run(storeOptions: server.options + ",bucket=" + container,
                                                  environment: server.environment, raw: raw, tag: "Conc")
        print("concurrency on SAIO S3: " + summary)
    }
}
