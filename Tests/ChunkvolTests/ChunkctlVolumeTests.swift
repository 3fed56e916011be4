// chunkctl's volume verbs as an operator runs them, on the Local backend: output and exit codes.
import Foundation
import Testing
import StoreTestSupport
import ObjectStore
import Chunkvol

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

@Suite struct ChunkctlVerbTests {
    @Test func everyVerbOnTheLocalBackend() throws {
        let folder = TemporaryFolder("verbs-local")
        let storeOptions = "backend=local,path=\(folder.path)/store"
        let raw = try StoreStack.open(options: Options(parsing: storeOptions)).store
        try raw.createContainer()
        try ChunkctlScenario(storeOptions: storeOptions, environment: [:], raw: raw).runAll(volume: "Full-0042")
    }

    func run(_ args: [String], _ env: [String: String] = [:]) throws -> ChildResult { try ChildProcess.chunkctl(args, environment: env) }

    /// The cost report's arithmetic: a price table of round numbers, applied to counts from a real run.
    @Test func costAppliesThePriceTable() throws {
        let folder = TemporaryFolder("cost")
        let env = ["CHUNKVOL_OPTIONS": "backend=local,path=\(folder.path)/store,cache=\(folder.path)/cache,chunksize=64K"]
        let input = try folder.file("in", randomBytes(4 * 65_536, seed: 5))
        #expect(try run(["import", "Cost-0001", input], env).status == 0)
        #expect(try run(["evict"], env).status == 0)
        #expect(try run(["export", "Cost-0001", folder.path + "/out"], env).status == 0)
        let prices = try folder.file("prices", Array("""
            # round numbers, so the arithmetic is plain
            name = test prices
            currency = EUR
            request.PUT = 1000     # 1 per request
            request.POST = 0
            request.LIST = 10
            request.GET = 100
            request.HEAD = 0
            request.DELETE = 0
            storage_gb_month = 0
            egress_gb = 1073741824  # 1 per byte
            """.utf8))
        let r = try run(["cost", "--json", "--prices", prices], env)
        #expect(r.status == 0, "\(r.stderr)")
        let d = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let req = try #require(d["requests"] as? [String: Int])
        let down = try #require(d["bytes_down"] as? Int)
        let price = try #require(d["price"] as? [String: Any])
        // import: 4 chunks + manifest, a GET of the absent manifest, a LIST at create; export with
        // the chunks evicted: the 4 chunks (the cache still knows the volume, so no manifest).
        #expect(req["PUT"] == 5 && req["GET"] == 5 && req["LIST"] == 1, "\(req)")
        let volume = try #require((d["volumes"] as? [String: [String: Any]])?["Cost-0001"])
        // The chunks and the manifest came down, all charged to the volume.
        #expect(down == 4 * 65_536 && volume["bytes_down"] as? Int == down, "\(d)")
        #expect(price["currency"] as? String == "EUR")
        let expected = Double(req["PUT"]!) * 1 + Double(req["GET"]!) * 0.1 + Double(req["LIST"]!) * 0.01
        #expect(abs((price["requests"] as? Double ?? -1) - expected) < 1e-9, "\(price)")
        #expect(price["transfer"] as? Double == Double(down))
        #expect(d["prices"] as? String == "test prices")
        // The counters are the cache index's: a later process sees them, and --since in the future none.
        let future = try run(["cost", "--json", "--since", "2999-01-01"], env)
        #expect((try JSONSerialization.jsonObject(with: Data(future.stdout.utf8)) as? [String: Any])?["bytes_down"] as? Int == 0)
        let text = try run(["cost", "--volume", "Cost-0001"], env).stdout
        #expect(text.contains("Cost-0001") && text.contains("price under AWS S3 Standard us-east-1 (list price): requests "), "\(text)")
    }

    @Test func malformedPriceTablesAndArgumentsAreUsageErrors() throws {
        let folder = TemporaryFolder("prices")
        let env = ["CHUNKVOL_OPTIONS": "backend=local,path=\(folder.path)/store,cache=\(folder.path)/cache"]
        let cases: [(String, String)] = [
            ("currency = USD\nrequest.PUTT = 1\n", "line 2: unknown name \"request.PUTT\""),
            ("currency = USD\nrequest.PUT = cheap\n", "line 2: request.PUT = \"cheap\" is not a price"),
            ("currency = USD\nrequest.PUT = -1\n", "is not a price"),
            ("just words\n", "line 1: \"just words\" is not \"name = value\""),
            ("currency = USD\nrequest.PUT = 1\n", "lacks storage_gb_month, egress_gb, request.GET"),
        ]
        for (text, message) in cases {
            let file = try folder.file("p", Array(text.utf8))
            let r = try run(["cost", "--prices", file], env)
            #expect(r.status == 2 && r.stderr.contains(message), "\(text): \(r.status) \(r.stderr)")
        }
        let missing = try run(["cost", "--prices", folder.path + "/none"], env)
        #expect(missing.status == 2 && missing.stderr.contains("cannot read the price table"))
        #expect(try run(["cost", "--since", "yesterday"], env).status == 2)
        #expect(try run(["cost", "--estimate"], env).status == 2)
        #expect(try run(["cost", "--estimate", "--size", "lots"], env).status == 2)
    }

    @Test func estimateOverChunkSizes() throws {
        let r = try run(["cost", "--estimate", "--size", "1T", "--months", "2", "--restores", "3", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let d = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let rows = try #require(d["rows"] as? [[String: Any]])
        #expect(rows.map { $0["chunk_size"] as? Int } == [8, 16, 32, 64, 128, 256, 512, 1024].map { $0 << 20 })
        let row64 = try #require(rows.first { $0["chunk_size"] as? Int == 64 << 20 })
        #expect(row64["chunks"] as? Int == 16_384)
        let requests = try #require(row64["requests"] as? [String: Int])
        #expect(requests["PUT"] == 16_385 && requests["GET"] == 1 + 3 * 16_385)
        let price = try #require(row64["price"] as? [String: Double])
        // 1 TiB = 1024 GB at 0.023 a month for 2 months; 3 restores of 1024 GB at 0.09 plus their GETs.
        #expect(abs(price["storage"]! - 1024 * 0.023 * 2) < 1e-9)
        #expect(abs(price["restores"]! - 3 * (1024 * 0.09 + 16_385 * 0.0004 / 1000)) < 1e-9)
        #expect(abs(price["requests"]! - (16_385 * 0.005 / 1000 + 0.0004 / 1000 + 0.005 / 1000)) < 1e-9)
        // Fewer, larger chunks: fewer requests, never a higher request price.
        let requestPrices = rows.map { ($0["price"] as! [String: Double])["requests"]! }
        #expect(requestPrices == requestPrices.sorted(by: >))
        let one = try run(["cost", "--estimate", "--size", "10G", "--chunksize", "256M"])
        #expect(one.stdout.split(separator: "\n").count == 4 && one.stdout.contains("     256M      40 "), "\(one.stdout)")
    }

    @Test func flushProgressOnAPipe() throws {
        let folder = TemporaryFolder("progress")
        let env = ["CHUNKVOL_OPTIONS": "backend=local,path=\(folder.path)/store,cache=\(folder.path)/cache,chunksize=64K,upload=manual"]
        let input = try folder.file("in", randomBytes(10 * 65_536, seed: 8))
        // import flushes at its end; with upload=manual the chunks wait for it.
        let r = try run(["import", "P-0001", input], env)
        #expect(r.status == 0, "\(r.stderr)")
        let v = try VolumeStore(options: env["CHUNKVOL_OPTIONS"]!)
        let h = try v.open("P-0001", mode: [.write, .append])
        _ = try h.write(randomBytes(3 * 65_536, seed: 9))
        try h.close()
        _ = v.close(timeout: 10)
        let flushed = try run(["flush", "P-0001"], env)
        #expect(flushed.status == 0 && flushed.stdout == "flushed: P-0001\n")
        // Not a terminal: plain lines on standard error, the last one complete.
        let last = flushed.stderr.split(separator: "\n").last.map(String.init) ?? ""
        #expect(last.hasPrefix("flush: 0.2 of 0.2 MiB, ") && last.hasSuffix(" MiB/s, done, 0 chunk(s) to go"), "\(flushed.stderr)")
    }
}
