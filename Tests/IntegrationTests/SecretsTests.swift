// No secret in any output, log or cache file: chunkctl's verbs run with a recognisable secret (an S3
// secret key, a Swift key, a Keystone password) at the most verbose setting (CHUNKVOL_TRACE=1, the
// only verbosity switch: it prints every retry and its cause), failing every way we can make them
// fail (wrong secret, unreachable store, missing bucket) and succeeding through a fault proxy that
// makes them retry. The secret's bytes appear nowhere in stdout, stderr, or any file of the cache
// folder (index.sqlite and its -wal and -shm included); nor does a Swift token.
import Foundation
import Testing
import ObjectStore
import Platform
import StoreTestSupport

@Suite("Secrets never shown") struct SecretsTests {
    /// Every verb that talks to the store, and two that only read the cache.
    static func verbs(_ folder: TemporaryFolder) throws -> [[String]] {
        let file = try folder.file("in", randomBytes(150_000, seed: 9))
        return [["store", "check"], ["store", "ls"], ["store", "put", "sec/obj", file], ["store", "get", "sec/obj", "-"],
                ["store", "head", "sec/obj"], ["store", "rm", "sec/obj"], ["import", "Sec-0001", file], ["import", "--append", "Sec-0001", file],
                ["ls"], ["inspect", "Sec-0001"], ["verify", "Sec-0001", "--data"], ["flush"], ["export", "Sec-0001", "-"],
                ["truncate", "Sec-0001", "1000"], ["rm", "Sec-0001"], ["status"], ["cost"], ["stats", "--prometheus"]]
    }

    /// Runs every verb; returns how many failed. Checks each run's output, then the cache's files.
    @discardableResult
    static func runAll(options: String, environment: [String: String], secrets: [String], folder: TemporaryFolder,
                       label: String) throws -> (failed: Int, traced: Int) {
        var failed = 0, traced = 0
        let env = environment.merging(["CHUNKVOL_TRACE": "1"]) { _, b in b }
        for args in try verbs(folder) {
            let r = try ChildProcess.chunkctl(["-o", options + ",cache=\(folder.path)/cache"] + args, environment: env)
            if r.status != 0 { failed += 1 }
            if r.stderr.contains("chunkvol: retry ") { traced += 1 }
            for s in secrets {
                #expect(!r.output.contains(s), "\(label) \(args): the secret is in stdout")
                #expect(!r.stderr.contains(s), "\(label) \(args): the secret is in stderr: \(r.stderr.prefix(500))")
            }
        }
        try checkCache(folder.path + "/cache", secrets: secrets, label: label)
        return (failed, traced)
    }

    static func checkCache(_ cache: String, secrets: [String], label: String) throws {
        guard let walker = FileManager.default.enumerator(atPath: cache) else { return }
        var files = 0
        while let p = walker.nextObject() as? String {
            let path = cache + "/" + p
            var st = stat()
            guard lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { continue }
            files += 1
            let bytes = [UInt8]((try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data())
            for s in secrets { #expect(!bytes.contains(s), "\(label): the secret is in \(p)") }
        }
        #expect(files >= 1, "\(label): the cache holds files (the index at least)")
    }

    @Test(arguments: [StoreAPI.saioS3, .rgwS3, .saioSwift, .rgwSwift]) func wrongSecretUnreachableAndMissingBucket(_ api: StoreAPI) throws {
        guard let server = try TestServers.require(api) else { return }
        let wrong = "cvtWRONG\(api.isS3 ? "s3" : "st")Secret7f3a91d2"
        let real = server.environment[api.isS3 ? "AWS_SECRET_ACCESS_KEY" : "ST_KEY"]!
        let quick = ",retries=1,retry_time=2,connect_timeout=1,io_timeout=2"
        let bucket = TestServers.containerName("secrets")
        _ = try server.open(container: bucket)
        let named = server.options + (api.isS3 ? ",bucket=" : ",container=") + bucket + quick
        // 1. a wrong secret: every verb that reaches the store fails.
        let folder1 = TemporaryFolder("secrets1")
        let badEnv = server.environment.merging([api.isS3 ? "AWS_SECRET_ACCESS_KEY" : "ST_KEY": wrong]) { _, b in b }
        let r1 = try SecretsTests.runAll(options: named, environment: badEnv, secrets: [wrong], folder: folder1, label: "\(api) wrong secret")
        #expect(r1.failed >= 14, "\(api): \(r1.failed) verbs failed with a wrong secret")
        // 2. the right secret, the store unreachable (nothing listens on port 9): retried, traced.
        let folder2 = TemporaryFolder("secrets2")
        let away = named.replacingOccurrences(of: server.baseURL, with: "http://127.0.0.1:9")
        let r2 = try SecretsTests.runAll(options: away, environment: server.environment, secrets: [real, wrong].filter { $0.count >= 12 } + [wrong],
                                         folder: folder2, label: "\(api) unreachable")
        #expect(r2.failed >= 14 && r2.traced >= 5, "\(api): \(r2.failed) failed, \(r2.traced) printed retries")
        // 3. the right secret, a bucket that does not exist.
        let folder3 = TemporaryFolder("secrets3")
        let missing = server.options + (api.isS3 ? ",bucket=" : ",container=") + TestServers.containerName("absent") + quick
        let r3 = try SecretsTests.runAll(options: missing, environment: server.environment, secrets: [real].filter { $0.count >= 12 } + [wrong],
                                         folder: folder3, label: "\(api) missing bucket")
        #expect(r3.failed >= 10, "\(api): \(r3.failed) failed")
        // (store create in 3 made the bucket: remove it again with the others below.)
    }

    /// Success with retries, traced: the RGW S3 secret (a recognisable 40 characters) and, on Swift,
    /// the token, which chunkctl never prints nor keeps.
    @Test(arguments: [StoreAPI.rgwS3, .saioSwift]) func tracedRetriesShowNoSecret(_ api: StoreAPI) throws {
        guard let server = try TestServers.require(api) else { return }
        let bucket = TestServers.containerName("secrets-ok")
        _ = try server.open(container: bucket)
        let proxy = try FaultProxy(upstream: server.baseURL, random: "503=0.2,reset=0.05", seed: 5)
        let folder = TemporaryFolder("secrets-ok")
        let o = server.through(proxyPort: proxy.port).options + (api.isS3 ? ",bucket=" : ",container=") + bucket + ",chunksize=64K"
        var secrets = [server.environment[api.isS3 ? "AWS_SECRET_ACCESS_KEY" : "ST_KEY"]!]
        if !api.isS3 {
            // TempAuth hands the same token to the same user while it is valid: the one chunkctl gets.
            let r = try HTTPClient().perform(HTTPRequest(method: "GET", url: server.baseURL + "/auth/v1.0",
                                                         headers: [("X-Auth-User", server.environment["ST_USER"]!), ("X-Auth-Key", server.environment["ST_KEY"]!)]))
            if let token = r.header("x-auth-token") { secrets.append(token) }
            #expect(secrets.count == 2, "a token to look for")
        }
        let r = try SecretsTests.runAll(options: o, environment: server.environment, secrets: secrets.filter { $0.count >= 12 }, folder: folder,
                                        label: "\(api) traced")
        #expect(r.failed == 0 && r.traced >= 3, "\(api): \(r.failed) failed, \(r.traced) printed retries")
    }

    /// Keystone: a wrong password, then the right one with the store unreachable, at the trace level.
    @Test func keystonePasswordNeverShown() throws {
        guard TestServers.isUp(.saioSwift), let url = TestServers.settings["KEYSTONE_AUTH_URL"],
              let user = TestServers.settings["KEYSTONE_USERNAME"], let project = TestServers.settings["KEYSTONE_PROJECT_NAME"] else {
            if TestServers.isCI { throw CheckFailure("Keystone is not running under CI=true") }
            print("SKIP: Keystone not running; start the servers with `bash Tests/servers/start-all.sh`")
            return
        }
        let domain = TestServers.settings["KEYSTONE_USER_DOMAIN_NAME"] ?? "Default"
        let wrong = "cvtWRONGkeystonePassword51c0"
        let env = ["OS_AUTH_URL": url, "OS_USERNAME": user, "OS_PASSWORD": wrong, "OS_PROJECT_NAME": project,
                   "OS_USER_DOMAIN_NAME": domain, "OS_PROJECT_DOMAIN_NAME": TestServers.settings["KEYSTONE_PROJECT_DOMAIN_NAME"] ?? domain]
        let folder = TemporaryFolder("secrets-ks")
        let o = "backend=swift,auth=keystone,container=\(TestServers.containerName("secrets-ks")),retries=1,retry_time=2,connect_timeout=1"
        let r = try SecretsTests.runAll(options: o, environment: env, secrets: [wrong], folder: folder, label: "Keystone wrong password")
        #expect(r.failed >= 14)
        // A password in a credentials file, the identity unreachable.
        let credentials = try folder.file("creds", Array("[default]\nos_password = \(wrong)\n".utf8))
        var fileEnv = env
        fileEnv["OS_PASSWORD"] = nil
        fileEnv["OS_AUTH_URL"] = "http://127.0.0.1:9/v3"
        let folder2 = TemporaryFolder("secrets-ks2")
        let r2 = try SecretsTests.runAll(options: o + ",credentials=\(credentials)", environment: fileEnv, secrets: [wrong], folder: folder2,
                                         label: "Keystone unreachable")
        #expect(r2.failed >= 14 && r2.traced >= 5, "\(r2.failed) failed, \(r2.traced) traced")
    }
}

extension Array where Element == UInt8 {
    func contains(_ text: String) -> Bool {
        let needle = Array(text.utf8)
        guard !needle.isEmpty, needle.count <= count else { return false }
        for i in 0...(count - needle.count) where self[i] == needle[0] && Array(self[i..<(i + needle.count)]) == needle { return true }
        return false
    }
}
