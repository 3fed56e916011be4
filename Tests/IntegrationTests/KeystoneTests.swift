// Swift with Keystone v3, against the real Keystone and Swift of the all-in-one: chunkctl's store
// verbs with a password and with an application credential, refusals in plain sentences, the
// catalog's endpoint, a token revoked mid-write and one renewed before it expires, and the volume
// model-based test.
import Foundation
import Testing
import Chunkvol
import ObjectStore
import Platform
import StoreTestSupport

@Suite("Swift with Keystone v3") struct KeystoneTests {
    /// put, ls, get, rm through chunkctl with the credentials in `env`; no option names Keystone:
    /// the OS_* variables choose it.
    func storeVerbs(_ env: [String: String], secret: String) throws {
        let o = "backend=swift,container=" + TestServers.containerName("ks-cli")
        func run(_ args: [String]) throws -> ChildResult { try ChildProcess.chunkctl(["-o", o] + args, environment: env) }
        #expect(try run(["store", "create"]).status == 0)
        let ok = try run(["store", "check"])
        #expect(ok.status == 0 && ok.stdout.contains("Keystone") && ok.stdout.contains("reachable, credentials accepted"),
                "\(ok.stdout) \(ok.stderr)")
        let folder = TemporaryFolder("ks-cli")
        let data = randomBytes(700_000, seed: 31)
        let file = try folder.file("in", data)
        let put = try run(["store", "put", "vol/0000", file])
        #expect(put.status == 0 && put.stdout.hasPrefix("vol/0000\t700000\t" + Digest.md5(data).hex), "\(put.stdout) \(put.stderr)")
        #expect(try run(["store", "put", "vol/0001", file]).status == 0)
        #expect(try run(["store", "ls", "vol/"]).stdout == "vol/0000\nvol/0001\n")
        let out = folder.path + "/out"
        let get = try run(["store", "get", "vol/0001", out])
        #expect(get.status == 0, "\(get.stderr)")
        #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: out))) == data)
        #expect(try run(["store", "rm", "vol/0000", "vol/0001"]).status == 0)
        let after = try run(["store", "ls"])
        #expect(after.status == 0 && after.stdout == "")
        for r in [ok, put, get, after] { #expect(!r.stdout.contains(secret) && !r.stderr.contains(secret)) }
    }

    @Test func storeVerbsWithPassword() throws {
        guard let k = try TestServers.requireKeystone() else { return }
        try storeVerbs(k.passwordEnvironment, secret: k.password)
    }

    /// An application credential made through Keystone's own API, used by id and by name.
    @Test func storeVerbsWithApplicationCredential() throws {
        guard let k = try TestServers.requireKeystone() else { return }
        let name = "cvt-\(UUID().uuidString.prefix(8))"
        let credential = try k.createApplicationCredential(name: name)
        defer { try? k.deleteApplicationCredential(id: credential.id) }
        let byID = ["OS_AUTH_URL": k.authURL, "OS_APPLICATION_CREDENTIAL_ID": credential.id,
                    "OS_APPLICATION_CREDENTIAL_SECRET": credential.secret]
        try storeVerbs(byID, secret: credential.secret)

        let byName = ["OS_AUTH_URL": k.authURL, "OS_APPLICATION_CREDENTIAL_NAME": name, "OS_USERNAME": k.username,
                      "OS_USER_DOMAIN_NAME": k.domain, "OS_APPLICATION_CREDENTIAL_SECRET": credential.secret]
        let stack = try StoreStack.open(options: Options(parsing: "backend=swift,container=" + TestServers.containerName("ks-acn")),
                                        environment: byName)
        try stack.unretried.createContainer()
        try stack.unretried.check()

        let wrong = "wrong-\(UUID().uuidString)"
        let refused = try ChildProcess.chunkctl(["-o", "backend=swift,container=x", "store", "check"],
                                                environment: byID.merging(["OS_APPLICATION_CREDENTIAL_SECRET": wrong]) { _, b in b })
        #expect(refused.status == 3 && refused.stderr.contains("the application credential is unknown, expired or its secret is wrong"),
                "\(refused.stderr)")
        #expect(!refused.stderr.contains(wrong) && !refused.stdout.contains(wrong))
    }

    @Test func wrongPasswordAndUnknownProjectSayWhich() throws {
        guard let k = try TestServers.requireKeystone() else { return }
        let wrong = "wrong-\(UUID().uuidString)"
        let cases: [(env: [String: String], sentence: String)] = [
            (["OS_PASSWORD": wrong], "the user or password is wrong; check OS_USERNAME, OS_USER_DOMAIN_NAME and OS_PASSWORD"),
            (["OS_PROJECT_NAME": "no-such-project"], "the password is right but project no-such-project (domain Default) does not exist"),
        ]
        for c in cases {
            let env = k.passwordEnvironment.merging(c.env) { _, b in b }
            let ledger = RequestLedger()
            let stack = try StoreStack.open(options: Options(parsing: "backend=swift,container=x"), environment: env, ledger: ledger)
            #expect { try stack.store.check() } throws: { error in
                guard let e = error as? StoreError else { return false }
                return e.kind == .badCredentials && e.description.contains(c.sentence) && !e.description.contains(wrong)
            }
            // The scoped request and the unscoped one that tells the two apart; no retries.
            #expect(ledger.snapshot[.AUTH] == 2 && ledger.snapshot.retries == 0, "\(ledger.snapshot)")
            let cli = try ChildProcess.chunkctl(["-o", "backend=swift,container=x", "store", "check"], environment: env)
            #expect(cli.status == 3 && cli.stderr.contains(c.sentence), "\(cli.stderr)")
            #expect(!cli.stderr.contains(wrong))
        }
    }

    /// The storage URL is the catalog's: Swift's address with the project id Keystone gave, which
    /// nothing in the configuration names. region= and storage_url= change the choice.
    @Test func catalogEndpointIsUsed() throws {
        guard let k = try TestServers.requireKeystone() else { return }
        let projectID = try #require(try k.issueToken().projectID)
        let container = TestServers.containerName("ks-cat")
        let ledger = RequestLedger()
        let stack = try StoreStack.open(options: Options(parsing: "backend=swift,container=\(container)"),
                                        environment: k.passwordEnvironment, ledger: ledger)
        try stack.unretried.createContainer()
        try stack.unretried.check()
        let swift = try #require(stack.backend as? SwiftStore)
        #expect(swift.currentSession?.storageURL == "\(k.swiftURL)/v1/AUTH_\(projectID)")
        #expect(ledger.snapshot[.AUTH] == 1, "one token for both requests")

        let internalInterface = try StoreStack.open(options: Options(parsing: "backend=swift,container=\(container),interface=internal,region=RegionOne"),
                                           environment: k.passwordEnvironment)
        try internalInterface.unretried.check()

        let nowhere = try StoreStack.open(options: Options(parsing: "backend=swift,container=\(container),region=Nowhere"),
                                          environment: k.passwordEnvironment)
        #expect { try nowhere.unretried.check() } throws: { "\($0)".contains("no object-store endpoint in region Nowhere (regions: RegionOne)") }

        let overridden = try StoreStack.open(options: Options(parsing: "backend=swift,container=\(container),connect_timeout=2"),
                                             environment: k.passwordEnvironment.merging(["OS_STORAGE_URL": "http://127.0.0.1:9/v1/AUTH_\(projectID)"]) { _, b in b })
        #expect { try overridden.unretried.check() } throws: { ($0 as? StoreError)?.kind == .unreachable }
        #expect((overridden.backend as? SwiftStore)?.currentSession?.storageURL == "http://127.0.0.1:9/v1/AUTH_\(projectID)")
    }

    /// A token revoked in Keystone while a volume is being written: Swift refuses it once its cache
    /// of validated tokens lets go, the store gets a new token on the 401, and the volume is whole.
    @Test func tokenRevokedMidWriteIsRenewed() throws {
        guard let k = try TestServers.requireKeystone() else { return }
        let container = TestServers.containerName("ks-revoke")
        let folder = TemporaryFolder("ks-revoke")
        let o = "backend=swift,container=\(container),cache=\(folder.path)/cache,chunksize=64K,uploads=3"
        let store = try VolumeStore(options: o, environment: k.passwordEnvironment)
        try store.stack.unretried.createContainer()
        let data = randomBytes(8 * 65_536 + 4_321, seed: 77)
        let v = try store.open("Revoked-0001", mode: [.write, .create])
        try v.write(Array(data[0..<(3 * 65_536)]))
        try v.flush(timeout: 60)

        let swift = try #require(store.stack.backend as? SwiftStore)
        let session = try #require(swift.currentSession)
        let old = session.token.reveal()
        #expect(try k.revoke(old) == 204)
        // Swift trusts a validated token for token_cache_time: wait until it refuses this one, so the
        // writes below really meet a 401.
        let deadline = Date().addingTimeInterval(k.tokenCacheTime + 15)
        var status = 0
        repeat {
            status = try HTTPClient().perform(HTTPRequest(method: "HEAD", url: session.storageURL, headers: [("X-Auth-Token", old)])).status
            if status != 401 { Thread.sleep(forTimeInterval: 0.5) }
        } while status != 401 && Date() < deadline
        try check(status == 401, "Swift still accepts the revoked token after \(k.tokenCacheTime + 15) s (HTTP \(status))")

        let before = store.requestCounts
        try v.write(Array(data[(3 * 65_536)...]))
        try v.flush(timeout: 60)
        try v.close()
        #expect(store.close(timeout: 60))
        let after = store.requestCounts
        #expect(after[.AUTH] - before[.AUTH] == 1, "one new token for all the uploads: \(after)")
        #expect(after.retries - before.retries >= 1, "at least one request met the 401 and was sent again")
        #expect(swift.currentSession?.token.reveal() != old)

        try FileManager.default.removeItem(atPath: folder.path + "/cache")
        let cold = try VolumeStore(options: o, environment: k.passwordEnvironment)
        let r = try cold.open("Revoked-0001", mode: .read)
        let back = try r.read(count: data.count + 1)
        try r.close()
        _ = cold.close(timeout: 60)
        #expect(back == data)
    }

    /// The session's renewal time comes from the token's lifetime; a store whose token is due gets
    /// a new one before its next request, without waiting for a 401.
    @Test func tokenRenewedBeforeItExpires() throws {
        guard let k = try TestServers.requireKeystone() else { return }
        let auth = try CredentialSource.keystone(options: Options(), environment: k.passwordEnvironment)
        let reference = try k.issueToken()
        let start = Date()
        let session = try auth.authenticate(http: HTTPClient(), ledger: nil)
        let renewAt = try #require(session.renewAt)
        let issued = try #require(reference.issuedAt.flatMap(KeystoneTests.time))
        let expires = try #require(reference.expiresAt.flatMap(KeystoneTests.time))
        let lifetime = expires.timeIntervalSince(issued)
        let expected = start.addingTimeInterval(lifetime - min(120, lifetime / 5))
        #expect(abs(renewAt.timeIntervalSince(expected)) < 5, "renewal at \(renewAt), expected about \(expected)")

        let container = TestServers.containerName("ks-expiry")
        let ledger = RequestLedger()
        let shortLived = ShortLivedTokens(auth, lifetime: 1)
        let store = SwiftStore(container: container, auth: shortLived, http: HTTPClient(), ledger: ledger)
        try store.createContainer()
        _ = try store.put("a", body: .bytes([1, 2, 3]), checksums: .none)
        Thread.sleep(forTimeInterval: 1.3)
        _ = try store.put("b", body: .bytes([4, 5]), checksums: .none)
        #expect(ledger.snapshot[.AUTH] == 2, "a new token once the first was due: \(ledger.snapshot)")
        #expect(ledger.snapshot.retries == 0, "renewed before the request, not after a 401")
        #expect(shortLived.issued == 2)
        #expect(try store.get("b", range: nil, into: .memory).bytes == [4, 5])
    }

    @Test func modelBasedSequence() throws {
        guard let k = try TestServers.requireKeystone() else { return }
        let container = TestServers.containerName("ks-model")
        try StoreStack.open(options: Options(parsing: "backend=swift,container=\(container)"), environment: k.passwordEnvironment)
            .unretried.createContainer()
        let folder = TemporaryFolder("ks-model")
        let stats = try runVolumeModel(storeOptions: "backend=swift,container=\(container)", environment: k.passwordEnvironment,
                                       cacheFolder: folder.path + "/cache", seed: 38, steps: 150)
        #expect(stats.writes > 20 && stats.reopens > 2)
    }

    static func time(_ text: String) -> Date? {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd'T'HH:mm:ss"
        return f.date(from: String(text.prefix(19)))
    }
}

/// Keystone's real tokens, said to be due after `lifetime` seconds.
final class ShortLivedTokens: SwiftAuthenticator, @unchecked Sendable {
    let inner: KeystoneAuth
    let lifetime: Double
    private let lock = NSLock()
    private var count = 0
    var issued: Int { lock.withLock { count } }

    init(_ inner: KeystoneAuth, lifetime: Double) { self.inner = inner; self.lifetime = lifetime }
    var name: String { inner.name }

    func authenticate(http: HTTPClient, ledger: RequestLedger?) throws -> SwiftSession {
        var s = try inner.authenticate(http: http, ledger: ledger)
        s.renewAt = Date().addingTimeInterval(lifetime)
        lock.withLock { count += 1 }
        return s
    }
}
