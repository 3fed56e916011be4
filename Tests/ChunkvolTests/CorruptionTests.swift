// Damage behind chunkvol's back, on the store, in the cache and in the index: each is detected,
// reported in a sentence naming the volume and chunk, never returned as data, and `repair` (or the
// next open, for a lost index) restores what can be restored. Dirty chunk files are never lost.
import Foundation
import Testing
import Chunkvol
import ObjectStore
import Platform
import StoreTestSupport

@Suite struct CorruptionTests {
    let chunk = 16_384

    func setUp(_ tag: String, extra: String = "") throws -> (TemporaryFolder, String, LocalStore) {
        let folder = TemporaryFolder(tag)
        let options = "backend=local,path=\(folder.path)/store,cache=\(folder.path)/cache,chunksize=16K" + extra
        return (folder, options, LocalStore(root: folder.path + "/store"))
    }

    func write(_ options: String, _ name: String, _ data: [UInt8], flush: Bool = true) throws {
        let store = try VolumeStore(options: options, environment: [:])
        let v = try store.open(name, mode: [.write, .create])
        try v.write(data)
        if flush { try v.flush(timeout: 30) } else { try v.sync() }
        try v.close()
        _ = store.close(timeout: 30)
    }

    func readAll(_ store: VolumeStore, _ name: String) throws -> [UInt8] {
        let v = try store.open(name, mode: .read)
        defer { try? v.close() }
        return try v.read(count: 1 << 24)
    }

    func expectCorrupt(_ body: () throws -> Void, naming parts: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(sourceLocation: sourceLocation) { try body() } throws: { error in
            let text = "\(error)"
            return parts.allSatisfy { text.contains($0) }
        }
    }

    /// On the store: a chunk replaced (same length), cut short, missing. Reads fail naming the chunk;
    /// verify --data names all three; with the cache's copies, repair puts them back.
    @Test func damagedChunksOnTheStore() throws {
        let (_, options, local) = try setUp("store-damage")
        let data = randomBytes(5 * chunk + 100, seed: 1)
        try write(options, "V", data)
        _ = try local.put("V/0001", body: .bytes(randomBytes(chunk, seed: 2)), checksums: .none)
        _ = try local.put("V/0002", body: .bytes(Array(data[(2 * chunk)..<(2 * chunk + 100)])), checksums: .none)
        try local.delete("V/0003")
        let store = try VolumeStore(options: options, environment: [:])
        _ = try store.evict(["V"])   // only the store has the chunks now
        let r = try store.open("V", mode: .read)
        #expect(try r.read(count: chunk) == Array(data[0..<chunk]))
        expectCorrupt({ _ = try r.read(count: chunk) }, naming: ["chunk 1 of volume V", "SHA-256"])
        try r.seek(Int64(2 * chunk))
        expectCorrupt({ _ = try r.read(count: chunk) }, naming: ["chunk 2 of volume V", "holds 100 bytes"])
        try r.seek(Int64(3 * chunk))
        expectCorrupt({ _ = try r.read(count: chunk) }, naming: ["chunk 3 of volume V"])
        try r.close()
        let kinds = try store.verify("V", data: true).problems.map { "\($0.kind.rawValue):\($0.chunk ?? -1)" }.sorted()
        #expect(kinds == ["chunk-checksum:1", "chunk-missing:3", "chunk-size:2"], "\(kinds)")
        // Evicted, so only the store had them: repair names what it cannot restore.
        let report = try store.repair("V", data: true)
        #expect(report.remaining.count == 3 && report.actions.isEmpty, "\(report)")
        _ = store.close(timeout: 10)
    }

    @Test func damagedChunksOnTheStoreAreRepairedFromTheCache() throws {
        let (_, options, local) = try setUp("store-repair")
        let data = randomBytes(5 * chunk + 100, seed: 3)
        try write(options, "V", data)
        _ = try local.put("V/0001", body: .bytes(randomBytes(chunk, seed: 4)), checksums: .none)
        _ = try local.put("V/0002", body: .bytes([1, 2, 3]), checksums: .none)
        try local.delete("V/0003")
        let store = try VolumeStore(options: options, environment: [:])
        let report = try store.repair("V", data: true)
        #expect(report.remaining.isEmpty && report.actions.count >= 3, "\(report)")
        let stored = try local.listAll(prefix: "V/").flatMap { try local.get($0.key, range: nil, into: .memory).bytes }
        #expect(stored == data)
        _ = store.close(timeout: 10)
    }

    /// The manifest not valid JSON, or listing the wrong sizes: a cache that does not know the
    /// volume refuses it with the cause; repair rebuilds it from the chunks.
    @Test(arguments: ["not json at all", "wrong sizes"]) func damagedManifest(_ damage: String) throws {
        let (folder, options, local) = try setUp("manifest")
        let data = randomBytes(3 * chunk + 7, seed: 5)
        try write(options, "M", data)
        var bytes = Array(damage.utf8)
        if damage == "wrong sizes" {
            let text = String(decoding: try local.get(".chunkvol/M.json", range: nil, into: .memory).bytes, as: UTF8.self)
            bytes = Array(text.replacingOccurrences(of: "\"size\" : \(data.count)", with: "\"size\" : \(data.count + 1)").utf8)
            #expect(bytes != Array(text.utf8), "the damage took")
        }
        _ = try local.put(".chunkvol/M.json", body: .bytes(bytes), checksums: .none)
        let cold = options.replacingOccurrences(of: "/cache,", with: "/cache2,")
        let store = try VolumeStore(options: cold, environment: [:])
        expectCorrupt({ _ = try store.open("M", mode: .read) }, naming: ["manifest of volume M", damage == "wrong sizes" ? "inconsistent" : "not valid JSON"])
        let report = try store.repair("M")
        #expect(report.remaining.isEmpty && report.actions.first?.contains("rebuilt from the store's 4 chunk(s)") == true, "\(report)")
        #expect(try readAll(store, "M") == data)
        _ = store.close(timeout: 10)
        withExtendedLifetime(folder) {}
    }

    /// A clean chunk's cache file changed behind the index: the read fails naming the chunk (the
    /// damaged bytes are never returned); repair --data drops the copy and the store's is read.
    @Test func aCacheFileChangedBehindTheIndex() throws {
        let (folder, options, _) = try setUp("cache-damage")
        let data = randomBytes(3 * chunk, seed: 6)
        try write(options, "C", data)
        let store = try VolumeStore(options: options, environment: [:])
        let path = store.cache.chunkPath("C", 1)
        var damaged = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        damaged[100] ^= 0xff
        try Data(damaged).write(to: URL(fileURLWithPath: path))
        let r = try store.open("C", mode: .read)
        #expect(try r.read(count: chunk) == Array(data[0..<chunk]))
        expectCorrupt({ _ = try r.read(count: chunk) }, naming: ["volume C, chunk 1", "changed behind the cache index", "repair C --data"])
        try r.close()
        let problems = try store.verify("C", data: true).problems.map(\.kind)
        #expect(problems == [.cacheChecksum])
        let report = try store.repair("C", data: true)
        #expect(report.remaining.isEmpty && report.actions.contains { $0.contains("dropped the damaged cache copy") }, "\(report)")
        #expect(try readAll(store, "C") == data)
        _ = store.close(timeout: 10)
        withExtendedLifetime(folder) {}
    }

    /// The index deleted, or overwritten with garbage, with dirty chunks in the cache: the next open
    /// adopts the chunk files (those with the store's bytes clean, the rest dirty), says so, and
    /// nothing written is lost.
    @Test(arguments: ["deleted", "garbage"]) func aLostIndexIsRebuilt(_ how: String) throws {
        let (folder, options, local) = try setUp("index-" + how, extra: ",upload=manual")
        let flushed = randomBytes(4 * chunk, seed: 7)
        try write(options, "I", flushed)
        // Then changed and grown in the cache only: chunk 1 rewritten, chunks 4 and 5 new.
        let store1 = try VolumeStore(options: options, environment: [:])
        let v = try store1.open("I", mode: .readWrite)
        try v.seek(Int64(chunk + 10))
        try v.write(randomBytes(50, seed: 8))
        try v.seek(Int64(4 * chunk))
        try v.write(randomBytes(chunk + 333, seed: 9))
        try v.sync()
        try v.seek(0)
        let expected = try v.read(count: 1 << 22)
        try v.close()
        _ = store1.close(timeout: 10)
        #expect(expected.count == 5 * chunk + 333)

        let index = folder.path + "/cache/index.sqlite"
        if how == "deleted" {
            for suffix in ["", "-wal", "-shm"] { unlink(index + suffix) }
        } else {
            try Data(randomBytes(100_000, seed: 10)).write(to: URL(fileURLWithPath: index))
        }
        let store = try VolumeStore(options: options.replacingOccurrences(of: ",upload=manual", with: ""), environment: [:])
        #expect(store.warnings.contains { $0.contains("volume I: adopted from the cache folder") && $0.contains("3 newer than the store") },
                "\(store.warnings)")
        if how == "garbage" {
            #expect(store.warnings.contains { $0.contains("was damaged") && $0.contains("moved to") }, "\(store.warnings)")
        }
        #expect(try readAll(store, "I") == expected)
        try store.flush(["I"], timeout: 30)
        let stored = try local.listAll(prefix: "I/").flatMap { try local.get($0.key, range: nil, into: .memory).bytes }
        #expect(stored == expected)
        #expect(try store.verify("I", data: true).problems.isEmpty)
        _ = store.close(timeout: 10)
    }
}
