// The format on the store (Spec/format.md) and the cache's guarantees (Spec/cache.md), on the
// Local backend.
import Foundation
import Testing
@testable import Chunkvol
@testable import ChunkCache
import ObjectStore
import Platform
import StoreTestSupport

@Suite struct FormatTests {
    @Test func chunkKeysArePaddedToFourDigits() {
        let l = VolumeLayout(prefix: "backups/")
        #expect(l.chunkKey("Full-0001", 0) == "backups/Full-0001/0000")
        #expect(l.chunkKey("Full-0001", 42) == "backups/Full-0001/0042")
        #expect(l.chunkKey("Full-0001", 9999) == "backups/Full-0001/9999")
        #expect(l.chunkKey("Full-0001", 10000) == "backups/Full-0001/10000")
        #expect(l.manifestKey("Full-0001") == "backups/.chunkvol/Full-0001.json")
        #expect(l.chunkNumber("backups/Full-0001/0042", volume: "Full-0001") == 42)
        #expect(l.chunkNumber("backups/Full-0001/10000", volume: "Full-0001") == 10000)
        #expect(l.chunkNumber("backups/Full-0001/042", volume: "Full-0001") == nil)
        #expect(l.chunkNumber("backups/Full-0001/00042", volume: "Full-0001") == nil)
        #expect(l.chunkNumber("backups/Full-0001/x001", volume: "Full-0001") == nil)
    }

    @Test(arguments: ["", ".", "..", "a/b", "a..b", ".hidden", "tab\there", "nul\u{0}", "del\u{7f}", String(repeating: "x", count: 201)])
    func badVolumeNamesAreRefused(_ name: String) {
        #expect { try VolumeLayout.validate(name) } throws: {
            ($0 as? VolumeError)?.kind == .invalid && ($0 as? VolumeError)?.sentence.contains("is not allowed") == true
        }
    }

    @Test(arguments: ["Full-0001", "Incr-2026-11-29_12.00.00_07", "ü-volume", String(repeating: "x", count: 200)])
    func goodVolumeNamesPass(_ name: String) throws { try VolumeLayout.validate(name) }

    @Test func manifestRecordsEveryChunkAfterThem() throws {
        let folder = TemporaryFolder("format")
        let store = try VolumeStore(options: "backend=local,path=\(folder.path)/store,cache=\(folder.path)/cache,chunksize=4K", environment: [:])
        let data = randomBytes(3 * 4096 + 5, seed: 1)
        let v = try store.open("Full-0001", mode: [.write, .create])
        try v.write(data)
        try v.flush(timeout: 30)
        try v.close()
        _ = store.close(timeout: 30)
        let local = LocalStore(root: folder.path + "/store")
        let m = try Manifest.decode(try local.get(".chunkvol/Full-0001.json", range: nil, into: .memory).bytes, volume: "Full-0001")
        #expect(m.size == UInt64(data.count) && m.chunkSize == 4096 && m.chunkCount == 4)
        for (i, c) in m.chunks.enumerated() {
            let bytes = try local.get(String(format: "Full-0001/%04d", i), range: nil, into: .memory).bytes
            #expect(c.sha256 == Digest.sha256(bytes).hex && c.length == UInt64(bytes.count))
        }
        // The chunk objects alone, concatenated, are the volume.
        let all = try local.listAll(prefix: "Full-0001/").flatMap { try local.get($0.key, range: nil, into: .memory).bytes }
        #expect(all == data)
    }

    @Test func damagedManifestsAreRefusedWithTheirCause() {
        #expect { _ = try Manifest.decode(Array("not json".utf8), volume: "V") } throws: {
            ($0 as? VolumeError)?.kind == .corrupt && "\($0)".contains("volume V")
        }
        let wrongCount = """
        {"format":"chunkvol-manifest","version":1,"volume":"V","chunk_size":4096,"size":5000,"chunk_count":1,"generation":1,"updated":"x",
         "chunks":[{"number":0,"length":4096,"sha256":"\(String(repeating: "0", count: 64))"}]}
        """
        #expect { _ = try Manifest.decode(Array(wrongCount.utf8), volume: "V") } throws: { "\($0)".contains("expected for 5000 bytes") }
    }

    @Test func aChangedChunkOnTheStoreIsAnErrorNotData() throws {
        let folder = TemporaryFolder("corrupt")
        let options = "backend=local,path=\(folder.path)/store,cache=\(folder.path)/cache,chunksize=4K"
        let store = try VolumeStore(options: options, environment: [:])
        let v = try store.open("V", mode: [.write, .create])
        try v.write(randomBytes(8192, seed: 2))
        try v.flush(timeout: 30)
        try v.close()
        try store.evict()
        _ = try LocalStore(root: folder.path + "/store").put("V/0001", body: .bytes(randomBytes(4096, seed: 3)), checksums: .none)
        let r = try store.open("V", mode: .read)
        #expect(try r.read(count: 4096) == randomBytes(8192, seed: 2).prefix(4096).map { $0 })
        #expect { _ = try r.read(count: 4096) } throws: {
            ($0 as? VolumeError)?.kind == .corrupt && "\($0)".contains("chunk 1 of volume V") && "\($0)".contains("SHA-256")
        }
    }
}

@Suite struct CacheTests {
    @Test func foldersAre0700AndFiles0600WhateverTheUmask() throws {
        let folder = TemporaryFolder("perm")
        let old = umask(0)
        defer { umask(old) }
        let store = try VolumeStore(options: "backend=local,path=\(folder.path)/store,cache=\(folder.path)/cache,chunksize=4K,upload=manual", environment: [:])
        let v = try store.open("P", mode: [.write, .create])
        try v.write(randomBytes(5000, seed: 4))
        try v.sync()
        func mode(_ p: String) -> Int { var st = stat(); stat(p, &st); return Int(st.st_mode & 0o777) }
        #expect(mode(folder.path + "/cache") == 0o700)
        #expect(mode(store.cache.storeFolder) == 0o700)
        #expect(mode(store.cache.volumeFolder("P")) == 0o700)
        #expect(mode(store.cache.chunkPath("P", 0)) == 0o600)
        #expect(mode(folder.path + "/cache/index.sqlite") == 0o600)
        try v.close()
    }

    @Test func syncedBytesSurviveAnAbandonedProcessAndUploadWithoutACommand() throws {
        let folder = TemporaryFolder("crash")
        let options = "backend=local,path=\(folder.path)/store,cache=\(folder.path)/cache,chunksize=4K,upload=manual"
        let data = randomBytes(10_000, seed: 5)
        do {
            // A process that syncs and then disappears: no close, no flush, nothing uploaded.
            let store = try VolumeStore(options: options, environment: [:])
            let v = try store.open("C", mode: [.write, .create])
            try v.write(data)
            try v.sync()
            try v.write(randomBytes(3000, seed: 6))   // after the last sync: may be lost, never corrupt
            _ = store.close(timeout: 0)
            withExtendedLifetime(v) {}
        }
        #expect(try LocalStore(root: folder.path + "/store").listAll(prefix: "C/").isEmpty)
        // The next process: the dirty chunks are found and uploaded with no command.
        let again = try VolumeStore(options: options.replacingOccurrences(of: "upload=manual", with: "upload=each-chunk"), environment: [:])
        #expect(again.close(timeout: 30))
        let local = LocalStore(root: folder.path + "/store")
        let stored = try local.listAll(prefix: "C/").flatMap { try local.get($0.key, range: nil, into: .memory).bytes }
        #expect(stored.count >= data.count && Array(stored.prefix(data.count)) == data)
        let third = try VolumeStore(options: options, environment: [:])
        let r = try third.open("C", mode: .read)
        #expect(try r.read(count: data.count) == data)
    }

    @Test func aSecondWriterIsRefusedNamingTheFirst() throws {
        let folder = TemporaryFolder("lock")
        let store = try VolumeStore(options: "backend=local,path=\(folder.path)/store,cache=\(folder.path)/cache", environment: [:])
        let first = try store.open("L", mode: [.write, .create])
        #expect { _ = try store.open("L", mode: [.write]) } throws: {
            ($0 as? VolumeError)?.kind == .busy && "\($0)".contains("pid \(getpid())")
        }
        let reader = try store.open("L", mode: .read)   // readers any number
        try reader.close()
        try first.close()
        try store.open("L", mode: [.write]).close()
    }

    @Test func openModesBehaveAsPOSIX() throws {
        let folder = TemporaryFolder("modes")
        let store = try VolumeStore(options: "backend=local,path=\(folder.path)/store,cache=\(folder.path)/cache,chunksize=4K", environment: [:])
        #expect { _ = try store.open("M", mode: .read) } throws: { ($0 as? VolumeError)?.kind == .notFound }
        let v = try store.open("M", mode: [.readWrite, .create, .exclusive])
        try v.write(Array("label".utf8))
        try v.seek(10)
        try v.write([1])
        try v.seek(0)
        #expect(try v.read(count: 100) == Array("label".utf8) + [0, 0, 0, 0, 0, 1])
        #expect(try v.read(count: 10) == [])   // past the end: nothing
        try v.close()
        #expect { _ = try store.open("M", mode: [.write, .create, .exclusive]) } throws: { ($0 as? VolumeError)?.kind == .exists }
        let a = try store.open("M", mode: [.write, .append])
        try a.seek(0)
        try a.write([9])
        #expect(a.size == 12)
        #expect { _ = try a.read(count: 1) } throws: { ($0 as? VolumeError)?.kind == .badHandle }
        try a.close()
        #expect { try a.close() } throws: { ($0 as? VolumeError)?.kind == .badHandle }
        let t = try store.open("M", mode: [.readWrite, .truncate])
        #expect(t.size == 0)
        try t.close()
    }
}
