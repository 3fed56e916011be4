// chunkctl's volume verbs as an operator runs them, on the Local backend: output and exit codes.
import Foundation
import Testing
import StoreTestSupport

@Suite struct ChunkctlVolumeTests {
    @Test func importStatusFlushEvictExport() throws {
        let folder = TemporaryFolder("cli")
        let env = ["CHUNKVOL_OPTIONS": "backend=local,path=\(folder.path)/store,cache=\(folder.path)/cache,chunksize=256K"]
        let data = randomBytes(1_000_000, seed: 71)
        let input = try folder.file("in", data)
        func run(_ args: [String]) throws -> ChildResult { try ChildProcess.chunkctl(args, environment: env) }

        let imported = try run(["import", "Full-0001", input])
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.stdout.hasPrefix("imported Full-0001: 1000000 bytes in "))
        #expect(imported.stdout.contains("requests: PUT 5, GET 1, HEAD 0, LIST 1, DELETE 0, POST 0, AUTH 0; "))

        let status = try run(["status", "--json"])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
        let volumes = try #require(json["volumes"] as? [[String: Any]])
        #expect(volumes.count == 1 && volumes[0]["name"] as? String == "Full-0001")
        #expect(volumes[0]["size"] as? Int == 1_000_000 && volumes[0]["chunks"] as? Int == 4 && volumes[0]["dirty_chunks"] as? Int == 0)
        #expect(volumes[0]["manifest_current"] as? Bool == true)
        #expect(json["dirty_bytes"] as? Int == 0)
        let text = try run(["status"])
        #expect(text.stdout.contains("Full-0001: 1000000 bytes, 4 chunks of 262144, 4 cached, 0 dirty, manifest current"))

        #expect(try run(["flush", "Full-0001"]).stdout == "flushed: Full-0001\n")
        #expect(try run(["evict", "Full-0001"]).stdout == "evicted 1000000 bytes of clean chunks\n")
        let out = folder.path + "/out"
        let exported = try run(["export", "Full-0001", out])
        #expect(exported.status == 0 && exported.stdout.contains("GET 4,"), "\(exported.stdout) \(exported.stderr)")
        #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: out))) == data)

        let missing = try run(["export", "Nope-0001", out])
        #expect(missing.status == 1 && missing.stderr.contains("no volume Nope-0001"))
        let badName = try run(["import", "../x", input])
        #expect(badName.status == 2 && badName.stderr.contains("is not allowed"))
        let unflushed = try run(["flush", "Never-0001"])
        #expect(unflushed.status == 1 && unflushed.stderr.contains("Never-0001"))
    }
}
