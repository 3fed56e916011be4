// Every backend that talks to a server, against the store contract, on both real servers.
import Foundation
import Testing
import ObjectStore
import StoreTestSupport
import Platform

@Suite("Store contract on real servers") struct StoreContractTests {
    func withStore(_ api: StoreAPI, _ tag: String, _ body: (any ObjectStore) throws -> Void) throws {
        guard let server = try TestServers.require(api) else { return }
        let stack = try server.open(container: TestServers.containerName(tag))
        try body(stack.store)
    }

    @Test(arguments: StoreAPI.allCases) func roundTrip(_ api: StoreAPI) throws {
        try withStore(api, "rt") { try StoreContract.roundTrip($0, prefix: "v/") }
    }
    @Test(arguments: StoreAPI.allCases) func checksums(_ api: StoreAPI) throws {
        try withStore(api, "ck") { try StoreContract.checksums($0, prefix: "v/") }
    }
    @Test(arguments: StoreAPI.allCases) func awkwardKeys(_ api: StoreAPI) throws {
        try withStore(api, "keys") { try StoreContract.awkwardKeyNames($0, prefix: "k/") }
    }
    @Test(arguments: StoreAPI.allCases) func paging(_ api: StoreAPI) throws {
        try withStore(api, "page") { try StoreContract.paging($0, prefix: "p/", count: 25, pageSize: 10) }
    }
    @Test(arguments: StoreAPI.allCases) func batchDelete(_ api: StoreAPI) throws {
        try withStore(api, "bd") { try StoreContract.batchDelete($0, prefix: "b/") }
    }

    /// The Counting decorator's numbers are the server's: every request the proxy saw, by kind.
    @Test(arguments: StoreAPI.allCases) func countsEqualTheRequestsOnTheWire(_ api: StoreAPI) throws {
        guard let server = try TestServers.require(api) else { return }
        let container = TestServers.containerName("count")
        _ = try server.open(container: container)
        let proxy = try FaultProxy(upstream: server.baseURL)
        let ledger = RequestLedger()
        let store = try server.through(proxyPort: proxy.port).open(container: container, ledger: ledger, create: false).store
        for i in 0..<12 { _ = try store.put("c/\(i)", body: .bytes(randomBytes(1000 + i, seed: UInt64(i))), checksums: .none) }
        _ = try store.get("c/0", range: nil, into: .memory)
        _ = try store.get("c/1", range: ByteRange(10, 19), into: .memory)
        _ = try store.head("c/2")
        _ = try? store.head("c/missing")
        _ = try store.listAll(prefix: "c/", pageSize: 5)   // three pages
        try store.delete("c/0")
        _ = try store.delete(keys: (1..<12).map { "c/\($0)" })

        var wire: [RequestKind: Int] = [:]
        for e in try proxy.log() { wire[FaultProxy.kind(e, api: api), default: 0] += 1 }
        let counts = ledger.snapshot
        for kind in RequestKind.allCases {
            #expect(counts[kind] == wire[kind] ?? 0, "\(api) \(kind): counted \(counts[kind]), on the wire \(wire[kind] ?? 0)")
        }
        #expect(counts[.PUT] == 12 && counts[.LIST] == 3 && counts[.GET] == 2 && counts[.HEAD] == 2)
        #expect(counts.bytesUp == UInt64((0..<12).map { 1000 + $0 }.reduce(0, +)))
        #expect(counts.bytesDown == 1000 + 10)
        #expect(counts.retries == 0 && counts.failures == 0)
    }
}

@Suite("S3 variants on real servers") struct S3VariantTests {
    /// UNSIGNED-PAYLOAD: no SHA-256 of the body; the MD5 still guards it.
    @Test(arguments: [StoreAPI.saioS3, .rgwS3]) func unsignedPayload(_ api: StoreAPI) throws {
        guard let server = try TestServers.require(api) else { return }
        let stack = try server.open(container: TestServers.containerName("unsigned"), extraOptions: "payload=unsigned")
        #expect(!stack.store.checksumKinds.contains(.sha256))
        try StoreContract.roundTrip(stack.store, prefix: "u/")
        try StoreContract.checksums(stack.store, prefix: "u/")
    }

    /// Virtual-hosted addressing (http://BUCKET.localhost:7480/KEY) on radosgw started with
    /// `rgw dns name = localhost` by Tests/servers/start-all.sh.
    @Test func virtualHostedAddressing() throws {
        guard let server = try TestServers.require(.rgwS3) else { return }
        guard let virtual = TestServers.settings["RGW_S3_VIRTUAL_ENDPOINT"] else {
            let why = "radosgw was not started with rgw dns name = localhost (Tests/servers/start-all.sh does)"
            if TestServers.isCI { throw CheckFailure(why) }
            print("SKIP: \(why)")
            return
        }
        let container = TestServers.containerName("virtual")
        let options = try Options(parsing: "backend=s3,endpoint=\(virtual),bucket=\(container),addressing=virtual")
        let ledger = RequestLedger()
        let stack = try StoreStack.open(options: options, environment: server.environment, ledger: ledger)
        try stack.unretried.createContainer()
        try StoreContract.roundTrip(stack.store, prefix: "v/")
        try StoreContract.paging(stack.store, prefix: "v/", count: 12, pageSize: 5)
        // The same objects, seen path-style through 127.0.0.1: the addressing changed, not the data.
        _ = try stack.store.put("both", body: .bytes([1, 2]), checksums: .none)
        let pathStyle = try server.open(container: container, create: false)
        #expect(try pathStyle.store.get("both", range: nil, into: .memory).bytes == [1, 2])
        let url = try #require(stack.backend as? S3Store).presignedURL("both", expires: 60)
        #expect(url.hasPrefix("http://\(container).localhost:"))
        #expect(try HTTPClient().perform(HTTPRequest(method: "GET", url: url)).body == [1, 2])
    }
}
