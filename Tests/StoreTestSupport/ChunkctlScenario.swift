// chunkctl's volume verbs as an operator runs them, on any store: a volume imported and appended to,
// listed, inspected, verified; then damaged behind chunkvol's back (manifest deleted, a chunk
// deleted, a chunk replaced by other bytes of the same length, an orphan chunk past the end) and
// verified and repaired, with a warm cache, a cold one, and none. Output checked as text and JSON.
// Shared by the Local unit test and the integration tests on real servers.
import Foundation
import ObjectStore
import Platform

public struct ChunkctlScenario {
    /// The option string's store part (backend, endpoint, bucket or container; no cache).
    public let storeOptions: String
    public let environment: [String: String]
    /// The same store, bare, to damage volumes behind chunkvol's back.
    public let raw: any ObjectStore
    let folder = TemporaryFolder("verbs")
    let chunk = 65_536

    public init(storeOptions: String, environment: [String: String], raw: any ObjectStore) {
        self.storeOptions = storeOptions; self.environment = environment; self.raw = raw
    }

    func options(cache: String) -> String { storeOptions + ",cache=\(folder.path)/\(cache),chunksize=64K" }

    @discardableResult
    func run(_ args: [String], cache: String = "cache", expect status: Int32 = 0, file: StaticString = #filePath,
             line: UInt = #line) throws -> ChildResult {
        let r = try ChildProcess.chunkctl(["-o", options(cache: cache)] + args, environment: environment)
        try check(r.status == status, "chunkctl \(args.joined(separator: " ")): exit \(r.status), expected \(status)\n"
                  + "stdout: \(r.stdout.suffix(1500))\nstderr: \(r.stderr.suffix(1500))", file: file, line: line)
        return r
    }

    func json(_ r: ChildResult) throws -> [String: Any] {
        guard let d = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] else {
            throw CheckFailure("not a JSON object: \(r.stdout.prefix(300))")
        }
        return d
    }

    func problems(_ r: ChildResult) throws -> [String] {
        ((try json(r))["problems"] as? [[String: Any]] ?? []).map { p in
            "\(p["kind"] as? String ?? "?")" + ((p["chunk"] as? Int).map { ":\($0)" } ?? "")
        }.sorted()
    }

    /// Everything; `volume` must be new on the store.
    public func runAll(volume v: String) throws {
        let first = randomBytes(3 * chunk + 1000, seed: 301), more = randomBytes(chunk, seed: 302)
        let data = first + more
        let chunks = stride(from: 0, to: data.count, by: chunk).map { Array(data[$0..<min(data.count, $0 + chunk)]) }
        try run(["import", v, try folder.file("first", first)])
        let appended = try run(["import", "--append", v, try folder.file("more", more)])
        try check(appended.stdout.hasPrefix("appended to \(v): \(more.count) bytes"), "append: \(appended.stdout)")

        // ls: text and JSON.
        let ls = try run(["ls"])
        try check(ls.stdout.split(separator: "\n").contains { $0.hasPrefix(v + " ") && $0.contains(" \(data.count) ") && $0.contains("store+cache") },
                  "ls names the volume with its size: \(ls.stdout)")
        let listed = ((try json(try run(["ls", "--json"])))["volumes"] as? [[String: Any]] ?? []).first { $0["name"] as? String == v }
        try check(listed?["size"] as? Int == data.count && listed?["chunks"] as? Int == 5 && listed?["dirty_chunks"] as? Int == 0
                  && listed?["chunk_size"] as? Int == chunk && listed?["on_store"] as? Bool == true, "ls --json: \(String(describing: listed))")

        // inspect: every chunk clean, cached, on the store, with its SHA-256.
        let ins = try json(try run(["inspect", v, "--json"]))
        let rows = ins["chunks"] as? [[String: Any]] ?? []
        try checkEqual(rows.map { $0["sha256"] as? String ?? "" }, chunks.map { Digest.sha256($0).hex }, "inspect's checksums")
        try check(rows.allSatisfy { $0["state"] as? String == "clean" && $0["cached"] as? Bool == true && $0["on_store"] as? Bool == true },
                  "inspect: \(rows)")
        try checkEqual(rows.map { $0["stored_size"] as? Int ?? -1 }, chunks.map(\.count), "inspect's stored sizes")
        let insText = try run(["inspect", v]).stdout
        try check(insText.contains("volume \(v): \(data.count) bytes in 5 chunk(s) of 64K")
                  && insText.contains(Digest.sha256(chunks[4]).hex), "inspect text: \(insText)")

        try check(try run(["verify", v, "--data"]).stdout.hasSuffix("5 chunk(s), \(data.count) bytes, \(2 * data.count) bytes hashed: OK\n"),
                  "verify --data of a sound volume")

        // Damage: manifest deleted, chunk 1 deleted, chunk 2 replaced (same length), an orphan chunk 7.
        func key(_ n: Int) -> String { v + "/" + String(format: "%04d", n) }
        try raw.delete(".chunkvol/\(v).json")
        try raw.delete(key(1))
        _ = try raw.put(key(2), body: .bytes(randomBytes(chunk, seed: 303)), checksums: .none)
        _ = try raw.put(key(7), body: .bytes(randomBytes(100, seed: 304)), checksums: .none)
        let cheap = try run(["verify", v, "--json"], expect: 1)
        try checkEqual(try problems(cheap), ["chunk-missing:1", "manifest-missing", "orphan:7"], "verify without --data")
        let deep = try run(["verify", v, "--data", "--json"], expect: 1)
        try checkEqual(try problems(deep), ["chunk-checksum:2", "chunk-missing:1", "manifest-missing", "orphan:7"], "verify --data")
        let text = try run(["verify", v, "--data"], expect: 1).stdout
        try check(text.contains("problem: volume \(v), chunk 2 (\(key(2))): the bytes on the store are not the volume's")
                  && text.contains("chunk 1 (\(key(1))): missing on the store") && text.contains(": 4 problem(s)"), "verify text: \(text)")

        // Repair from the warm cache: everything but the orphan, which needs --remove-orphans.
        let partial = try run(["repair", v, "--data"], expect: 1).stdout
        try check(partial.contains("repaired: chunk 1: uploading the cache's copy again")
                  && partial.contains("repaired: chunk 2: uploading the cache's copy again")
                  && partial.contains("repaired: the manifest: rewriting it from the cache")
                  && partial.contains("remaining: volume \(v): chunk object \(key(7))") && partial.contains("--remove-orphans"), "repair: \(partial)")
        let full = try json(try run(["repair", v, "--data", "--remove-orphans", "--json"]))
        try check(full["ok"] as? Bool == true && (full["actions"] as? [String] ?? []).contains("removed orphan chunk object \(key(7))"),
                  "repair --remove-orphans: \(full)")
        try check(try raw.get(key(2), range: nil, into: .memory).bytes == chunks[2], "chunk 2's bytes are the volume's again")
        try run(["verify", v, "--data"])

        // A cold cache: evicted, then exported from the store.
        let evicted = try run(["evict", v]).stdout
        try checkEqual(evicted, "evicted \(data.count) bytes of clean chunks\n", "evict")
        let out = folder.path + "/out"
        try run(["export", v, out])
        try check([UInt8](try Data(contentsOf: URL(fileURLWithPath: out))) == data, "export after repair gives the volume's bytes")

        // No cache at all: the manifest rebuilt from the listing, each chunk downloaded and hashed.
        try raw.delete(".chunkvol/\(v).json")
        let rebuilt = try run(["repair", v], cache: "cache2").stdout
        try check(rebuilt.contains("repaired: the manifest: rebuilt from the store's 5 chunk(s), \(data.count) bytes"), "rebuild: \(rebuilt)")
        try run(["verify", v, "--data"], cache: "cache3")
        // A chunk lost on the store and in no cache: named, not invented.
        try raw.delete(key(0))
        let lost = try json(try run(["repair", v, "--json"], cache: "cache4", expect: 1))
        try check((lost["remaining"] as? [[String: Any]] ?? []).contains { $0["kind"] as? String == "chunk-missing" && $0["chunk"] as? Int == 0 },
                  "a lost chunk stays reported: \(lost)")
        _ = try raw.put(key(0), body: .bytes(chunks[0]), checksums: .none)

        // status, truncate, rm.
        let status = try json(try run(["status", "--json"]))
        try check(status["dirty_bytes"] as? Int == 0 && status["uploads_in_flight"] as? Int == 0, "status: \(status)")
        let cut = try run(["truncate", v, "100000"]).stdout
        try check(cut.hasPrefix("truncated \(v) to 100000 bytes, flushed"), "truncate: \(cut)")
        try check(try raw.listAll(prefix: v + "/").map(\.key) == [key(0), key(1)], "truncate removed the chunks past the end")
        try run(["verify", v, "--data"])
        try checkEqual(try run(["rm", v]).stdout, "removed \(v)\n", "rm")
        let again = try run(["rm", v], expect: 1)
        try check(again.stderr.contains("no volume \(v)"), "rm of a missing volume: \(again.stderr)")
        try check(try raw.listAll(prefix: v + "/").isEmpty, "rm left chunk objects")
        try check(!(try run(["ls"]).stdout.contains(v + " ")), "ls after rm")

        // The counters survived every process: cost and stats see this volume's requests.
        let cost = try json(try run(["cost", "--json", "--volume", v]))
        let requests = cost["requests"] as? [String: Int] ?? [:]
        try check((requests["PUT"] ?? 0) >= 8 && (requests["GET"] ?? 0) >= 10 && (requests["DELETE"] ?? 0) + (requests["POST"] ?? 0) >= 2,
                  "cost: \(cost)")
        let stats = try run(["stats", "--prometheus"]).stdout
        try check(stats.contains("# TYPE chunkvol_requests_total counter")
                  && stats.contains("volume=\"\(v)\",kind=\"PUT\"} \(requests["PUT"] ?? -1)\n"), "stats: \(stats.prefix(800))")
    }
}
