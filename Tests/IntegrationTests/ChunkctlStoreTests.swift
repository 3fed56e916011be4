// `chunkctl store` verbs as an operator runs them, against the four APIs, output and exit codes
// checked; and a 100 MiB object streamed up and down with the process's peak memory measured.
import Foundation
import Testing
import ObjectStore
import Platform
import StoreTestSupport

@Suite("chunkctl store") struct ChunkctlStoreTests {
    func options(_ server: ServerEndpoint, _ container: String) -> String {
        server.options + (server.api.isS3 ? ",bucket=" : ",container=") + container
    }

    @Test(arguments: StoreAPI.allCases) func verbs(_ api: StoreAPI) throws {
        guard let server = try TestServers.require(api) else { return }
        let o = options(server, TestServers.containerName("cli"))
        let env = server.environment
        func run(_ args: [String], stdin: String? = nil) throws -> ChildResult {
            try ChildProcess.chunkctl(["-o", o] + args, environment: env, stdinFile: stdin)
        }
        let absent = try run(["store", "check"])
        #expect(absent.status == 1 && absent.stderr.contains("does not exist"), "\(absent.stderr)")

        let created = try run(["store", "create"])
        #expect(created.status == 0 && created.stdout.hasPrefix("created: "))
        let ok = try run(["store", "check"])
        #expect(ok.status == 0 && ok.stdout.contains("reachable, credentials accepted"), "\(ok.stderr)")

        let folder = TemporaryFolder()
        let data = randomBytes(1_500_000, seed: 9)
        let file = try folder.file("in", data)
        let put = try run(["store", "put", "dir/obj ü+&", file])
        #expect(put.status == 0 && put.stdout.hasPrefix("dir/obj ü+&\t1500000\t"), "\(put.stdout) \(put.stderr)")
        let fromStdin = try run(["store", "put", "dir/stdin", "-"], stdin: file)
        #expect(fromStdin.status == 0 && fromStdin.stdout.contains("\t1500000\t"))

        let ls = try run(["store", "ls", "dir/"])
        #expect(ls.stdout == "dir/obj ü+&\ndir/stdin\n")
        let lsJSON = try run(["store", "ls", "--json", "--page-size", "1"])
        let listed = try JSONSerialization.jsonObject(with: Data(lsJSON.stdout.utf8)) as? [[String: Any]]
        #expect(listed?.map { $0["key"] as? String } == ["dir/obj ü+&", "dir/stdin"])
        #expect(listed?.map { $0["size"] as? Int } == [1_500_000, 1_500_000])

        let head = try run(["store", "head", "--json", "dir/obj ü+&"])
        let headJSON = try JSONSerialization.jsonObject(with: Data(head.stdout.utf8)) as? [String: Any]
        #expect(headJSON?["size"] as? Int == 1_500_000)
        #expect(headJSON?["etag"] as? String == Digest.md5(data).hex)

        let out = folder.path + "/out"
        #expect(try run(["store", "get", "dir/obj ü+&", out]).status == 0)
        #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: out))) == data)
        let ranged = try run(["store", "get", "dir/stdin", "-", "--range", "100-109"])
        #expect(ranged.status == 0 && ranged.output == Array(data[100...109]))

        let missing = try run(["store", "get", "dir/none", folder.path + "/none"])
        #expect(missing.status == 1 && !FileManager.default.fileExists(atPath: folder.path + "/none"))

        let rm = try run(["store", "rm", "dir/obj ü+&", "dir/stdin", "dir/never"])
        #expect(rm.status == 0, "\(rm.stderr)")
        #expect(try run(["store", "ls"]).stdout == "")

        if api.isS3 {
            _ = try run(["store", "put", "shared", file])
            let presign = try run(["store", "presign", "shared", "--expires", "300"])
            let url = presign.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(url.contains("X-Amz-Signature="))
            let fetched = try HTTPClient().perform(HTTPRequest(method: "GET", url: url))
            #expect(fetched.status == 200 && fetched.body == data)
            let tampered = try HTTPClient().perform(HTTPRequest(method: "GET", url: url.replacingOccurrences(of: "shared", with: "sharee")))
            #expect(tampered.status == 403)
        } else {
            let presign = try run(["store", "presign", "x"])
            #expect(presign.status == 2 && presign.stderr.contains("backend=s3"))
        }

        let wrongKey = try ChildProcess.chunkctl(["-o", o, "store", "check"],
                                                 environment: env.merging(["AWS_SECRET_ACCESS_KEY": "nope-secret-x", "ST_KEY": "nope-secret-x"]) { _, b in b })
        #expect(wrongKey.status == 3, "credentials refused exit 3")
        #expect(!wrongKey.stderr.contains("nope-secret-x") && !wrongKey.stdout.contains("nope-secret-x"))
    }

    @Test func usageErrorsExitTwo() throws {
        let bad = try ChildProcess.chunkctl(["-o", "bogus=1", "store", "check"], environment: [:])
        #expect(bad.status == 2 && bad.stderr.contains("unknown option 'bogus'"))
        let verb = try ChildProcess.chunkctl(["store", "frobnicate"], environment: [:])
        #expect(verb.status == 2)
        let range = try ChildProcess.chunkctl(["-o", "path=/tmp", "store", "get", "k", "-", "--range", "9-1"], environment: [:])
        #expect(range.status == 2 && range.stderr.contains("FIRST-LAST"))
    }

    /// 100 MiB up and down through chunkctl: the bytes match and the process never holds them.
    @Test(arguments: StoreAPI.allCases) func largeObjectStreamsInFlatMemory(_ api: StoreAPI) throws {
        guard let server = try TestServers.require(api) else { return }
        let o = options(server, TestServers.containerName("big"))
        let folder = TemporaryFolder()
        let size = 100 << 20
        let data = randomBytes(size, seed: 100)
        let file = try folder.file("big", data)
        #expect(try ChildProcess.chunkctl(["-o", o, "store", "create"], environment: server.environment).status == 0)
        let up = try ChildProcess.chunkctl(["-o", o, "store", "put", "big", file], environment: server.environment)
        #expect(up.status == 0, "\(up.stderr)")
        let down = try ChildProcess.chunkctl(["-o", o, "store", "get", "big", folder.path + "/back"], environment: server.environment)
        #expect(down.status == 0, "\(down.stderr)")
        let back = try Data(contentsOf: URL(fileURLWithPath: folder.path + "/back"))
        #expect(back.count == size && [UInt8](back) == data)
        let limitKiB = 48 * 1024
        #expect(up.maxRSSKiB < limitKiB, "upload peak RSS \(up.maxRSSKiB) KiB")
        #expect(down.maxRSSKiB < limitKiB, "download peak RSS \(down.maxRSSKiB) KiB")
        print("\(api): 100 MiB put peak RSS \(up.maxRSSKiB / 1024) MiB, get peak RSS \(down.maxRSSKiB / 1024) MiB")
        _ = try ChildProcess.chunkctl(["-o", o, "store", "rm", "big"], environment: server.environment)
    }
}
