// Bugs the fault soak (FaultSoakTests) found, each pinned by a test of its own.
import Foundation
import Testing
import ObjectStore
import Platform
import StoreTestSupport
import Chunkvol

@Suite("Fault soak findings") struct SoakFindingsTests {
    /// Found by the soak: a Swift token request that failed was counted twice, as a failed AUTH
    /// and as a failed request of the operation waiting for the token (a PUT or GET never sent); and
    /// after a 401, the re-send was counted before the new token came, so a renewal that failed
    /// left a request counted that was never sent.
    @Test(arguments: [StoreAPI.saioSwift, .rgwSwift]) func failedTokenRequestsAreCountedOnce(_ api: StoreAPI) throws {
        guard let server = try TestServers.require(api) else { return }
        let container = TestServers.containerName("authfault")
        _ = try server.open(container: container)
        let proxy = try FaultProxy(upstream: server.baseURL, rules: """
            [{"path": "/auth/", "nth": [1, 2, 4], "action": "503"}, {"method": "GET", "path": "tokened", "nth": [1], "action": "401"}]
            """)
        let ledger = RequestLedger()
        let store = try server.through(proxyPort: proxy.port).open(container: container, ledger: ledger, create: false).store
        // Two token requests fail, the third succeeds: the PUT goes out once.
        _ = try store.put("tokened", body: .bytes([1, 2, 3]), checksums: .none)
        var c = ledger.snapshot
        #expect(c[.AUTH] == 3 && c[.PUT] == 1, "\(c.requests)")
        #expect(c.failures == 2 && c.retries == 2, "failures \(c.failures), retries \(c.retries)")
        #expect(c.total == (try proxy.log().count))
        // A 401, then the renewal fails: the GET was sent once and failed; the retry sends it again
        // with the token it has (the 401 was the proxy's), and it succeeds.
        #expect(try store.get("tokened", range: nil, into: .memory).bytes == [1, 2, 3])
        c = ledger.snapshot
        let log = try proxy.log()
        #expect(log.map { FaultProxy.kind($0, api: api).rawValue } == ["AUTH", "AUTH", "AUTH", "PUT", "GET", "AUTH", "GET"], "\(log.map(\.path))")
        #expect(c[.AUTH] == 4 && c[.GET] == 2, "\(c.requests)")
        #expect(c.total == log.count, "counted \(c.total), on the wire \(log.count)")
        #expect(c.failures == 4 && c.retries == 3, "failures \(c.failures), retries \(c.retries)")
    }

    /// Found by the soak: two writes of one volume's manifest in flight at once (one at the end of an
    /// upload, stalled; the next after the volume changed) landed in the wrong order, so the store
    /// kept an older generation than the index recorded as stored, and a cold read failed its
    /// checksums. Manifest writes of a volume now take turns.
    @Test(arguments: [StoreAPI.saioS3, .rgwSwift]) func manifestWritesOfAVolumeTakeTurns(_ api: StoreAPI) throws {
        guard let server = try TestServers.require(api) else { return }
        let container = TestServers.containerName("turns")
        let direct = try server.open(container: container).store
        // The first manifest PUT gets no answer for 3 s, then the proxy closes; it is sent again.
        let proxy = try FaultProxy(upstream: server.baseURL, rules: #"[{"method": "PUT", "path": "chunkvol/", "nth": [1], "action": "stall:3"}]"#)
        let folder = TemporaryFolder("turns")
        let bucket = (api.isS3 ? ",bucket=" : ",container=") + container
        let store = try VolumeStore(options: server.through(proxyPort: proxy.port).options + bucket + ",cache=\(folder.path)/cache,chunksize=64K",
                                    environment: server.environment)
        let first = randomBytes(1000, seed: 1), second = randomBytes(1500, seed: 2)
        var v = try store.open("Turns-0001", mode: [.readWrite, .create])
        _ = try v.write(first)
        try v.close()   // the chunk's upload, then the manifest (stalled), in the background
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline, !(try proxy.log()).contains(where: { $0.method == "PUT" && $0.path.contains("chunkvol/") }) { usleep(20_000) }
        v = try store.open("Turns-0001", mode: [.readWrite])
        try v.seek(0, from: .end)
        _ = try v.write(second)
        try v.close()
        try store.flush(["Turns-0001"], timeout: 60)
        #expect(store.close(timeout: 60))
        let indexed = try #require(try store.cache.index.volume("Turns-0001"))
        let manifest = try direct.get(".chunkvol/Turns-0001.json", range: nil, into: .memory).bytes
        let json = try #require(try JSONSerialization.jsonObject(with: Data(manifest)) as? [String: Any])
        #expect(json["size"] as? Int == 2500 && json["generation"] as? Int == Int(indexed.generation),
                "the store's manifest: size \(json["size"] ?? "?"), generation \(json["generation"] ?? "?"); the index: generation \(indexed.generation), stored \(indexed.storedGeneration)")
        #expect(try proxy.log().filter { $0.method == "PUT" && $0.path.contains("chunkvol/") }.count >= 3, "the stalled PUT, its re-send, the newer one")
        // A cold reader sees the whole volume.
        let cold = try VolumeStore(options: server.options + bucket + ",cache=\(folder.path)/cold", environment: server.environment)
        let r = try cold.open("Turns-0001", mode: [.read])
        #expect(try r.read(count: 10_000) == first + second)
        try r.close()
    }
}
