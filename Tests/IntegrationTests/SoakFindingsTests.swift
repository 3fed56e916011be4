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

}
