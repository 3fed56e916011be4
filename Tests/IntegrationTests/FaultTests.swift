// Retries, redirects, clock correction and token renewal, against real servers behind the
// fault-injecting proxy: the operation succeeds, the extra requests are counted, and the server
// (read directly, not through the proxy) holds the right bytes.
import Foundation
import Testing
import ObjectStore
import Platform
import StoreTestSupport

@Suite("Faults on the wire") struct FaultTests {
    /// A stall ends after io_timeout counted from the last byte moved (the stall guard in
    /// CCurlShim, not libcurl's averaged low-speed check), with a sentence naming io_timeout: a
    /// 10 s stall with io_timeout=2 fails in about 2 s.
    @Test func aStallEndsAfterIoTimeout() throws {
        guard let server = try TestServers.require(.saioS3) else { return }
        let container = TestServers.containerName("stall")
        let direct = try server.open(container: container).store
        _ = try direct.put("stalled", body: .bytes(randomBytes(100_000, seed: 3)), checksums: .none)
        let proxy = try FaultProxy(upstream: server.baseURL, rules: """
            [{"method": "GET", "path": "stalled", "nth": [1], "action": "stall:10"}]
            """)
        let store = try server.through(proxyPort: proxy.port)
            .open(container: container, extraOptions: "io_timeout=2,retries=0", create: false).store
        let started = Date()
        #expect { _ = try store.get("stalled", range: nil, into: .memory) } throws: { error in
            (error as? StoreError)?.kind == .timeout && "\(error)".contains("io_timeout")
        }
        let took = Date().timeIntervalSince(started)
        #expect(took >= 1.9 && took < 4.5, "the stalled GET ended after \(took) s")
    }

    @Test(arguments: StoreAPI.allCases) func transientFailuresAreRetried(_ api: StoreAPI) throws {
        guard let server = try TestServers.require(api) else { return }
        let container = TestServers.containerName("retry")
        let direct = try server.open(container: container).store
        let rules = """
        [{"method": "PUT", "path": "retry-object", "nth": [1], "action": "503"},
         {"method": "PUT", "path": "retry-object", "nth": [2], "action": "slowdown"},
         {"method": "PUT", "path": "retry-object", "nth": [3], "action": "reset"},
         {"method": "PUT", "path": "retry-object", "nth": [4], "action": "429"},
         {"method": "GET", "path": "retry-object", "nth": [1], "action": "500"},
         {"method": "GET", "path": "retry-object", "nth": [2], "action": "truncate"},
         {"method": "GET", "path": "retry-object", "nth": [3], "action": "stall:4"},
         {"method": "GET", "path": "retry-object", "nth": [4], "action": "reset-before-body"}]
        """
        let proxy = try FaultProxy(upstream: server.baseURL, rules: rules)
        let ledger = RequestLedger()
        let store = try server.through(proxyPort: proxy.port)
            .open(container: container, extraOptions: "io_timeout=1,retries=6", ledger: ledger, create: false).store
        let data = randomBytes(2 << 20, seed: 42)
        _ = try store.put("retry-object", body: .bytes(data), checksums: .none)
        let got = try store.get("retry-object", range: nil, into: .memory)
        #expect(got.bytes == data)
        #expect(try direct.get("retry-object", range: nil, into: .memory).bytes == data, "the server holds the bytes")

        let injected = try proxy.log().filter { $0.injected != nil }.count
        let counts = ledger.snapshot
        #expect(injected == 8)
        #expect(counts.retries == 8, "one retry per injected fault")
        #expect(counts.failures == 8)
        #expect(counts[.PUT] == 5 && counts[.GET] == 5)
    }

    @Test(arguments: [StoreAPI.saioS3, .rgwS3]) func redirectIsFollowedWithAFreshSignature(_ api: StoreAPI) throws {
        guard let server = try TestServers.require(api) else { return }
        let container = TestServers.containerName("redir")
        let direct = try server.open(container: container).store
        // The proxy answers 307 to the server itself: a new Host, so the old signature would fail.
        let proxy = try FaultProxy(upstream: server.baseURL, rules: """
            [{"method": "PUT", "nth": [1], "action": "redirect307"}, {"method": "GET", "nth": [1], "action": "redirect307"}]
            """)
        let ledger = RequestLedger()
        let store = try server.through(proxyPort: proxy.port).open(container: container, ledger: ledger, create: false).store
        let data = randomBytes(100_000, seed: 7)
        _ = try store.put("moved", body: .bytes(data), checksums: .none)
        #expect(try store.get("moved", range: nil, into: .memory).bytes == data)
        #expect(try direct.get("moved", range: nil, into: .memory).bytes == data)
        #expect(ledger.snapshot.retries == 2 && ledger.snapshot[.PUT] == 2 && ledger.snapshot[.GET] == 2)
        #expect(try proxy.log().count == 2, "after each redirect the request went to the server, not the proxy")
    }

    @Test(arguments: [StoreAPI.saioS3, .rgwS3]) func clockSkewIsCorrectedFromTheServer(_ api: StoreAPI) throws {
        guard let server = try TestServers.require(api) else { return }
        let container = TestServers.containerName("skew")
        _ = try server.open(container: container)
        let options = try Options(parsing: server.options + ",bucket=\(container)")
        let config = try S3Configuration(options: options, environment: server.environment)
        let ledger = RequestLedger()
        // This machine's clock, as the store sees it, is two hours fast.
        let store = S3Store(configuration: config, http: HTTPClient(), ledger: ledger,
                            clock: { Date().addingTimeInterval(7200) })
        _ = try store.put("skewed", body: .bytes([1, 2, 3]), checksums: .none)
        #expect(abs(store.clockSkew + 7200) < 120, "learnt correction \(store.clockSkew)")
        #expect(ledger.snapshot.retries == 1, "one re-sent request after RequestTimeTooSkewed")
        #expect(try store.get("skewed", range: nil, into: .memory).bytes == [1, 2, 3])
        #expect(ledger.snapshot.retries == 1, "later requests use the correction at once")
    }

    @Test(arguments: [StoreAPI.saioSwift, .rgwSwift]) func expiredTokenIsRenewedOnce(_ api: StoreAPI) throws {
        guard let server = try TestServers.require(api) else { return }
        let container = TestServers.containerName("token")
        _ = try server.open(container: container)
        let proxy = try FaultProxy(upstream: server.baseURL, rules: """
            [{"method": "GET", "path": "tokened", "nth": [1], "action": "401"}]
            """)
        let ledger = RequestLedger()
        let store = try server.through(proxyPort: proxy.port).open(container: container, ledger: ledger, create: false).store
        _ = try store.put("tokened", body: .bytes([5]), checksums: .none)
        #expect(try store.get("tokened", range: nil, into: .memory).bytes == [5])
        #expect(ledger.snapshot[.AUTH] == 2, "the first token, then one renewal after the 401")
    }

    @Test(arguments: StoreAPI.allCases) func retriesEndAndTheErrorIsKept(_ api: StoreAPI) throws {
        guard let server = try TestServers.require(api) else { return }
        let container = TestServers.containerName("giveup")
        _ = try server.open(container: container)
        let proxy = try FaultProxy(upstream: server.baseURL, rules: """
            [{"method": "PUT", "path": "doomed", "action": "503"}]
            """)
        let ledger = RequestLedger()
        let store = try server.through(proxyPort: proxy.port)
            .open(container: container, extraOptions: "retries=3", ledger: ledger, create: false).store
        #expect { _ = try store.put("doomed", body: .bytes([1]), checksums: .none) } throws: {
            ($0 as? StoreError)?.kind == .throttled
        }
        #expect(ledger.snapshot[.PUT] == 4 && ledger.snapshot.retries == 3 && ledger.snapshot.failures == 4)
    }
}
