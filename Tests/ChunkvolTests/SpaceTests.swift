// The cache's size: clean chunks evicted least recently used past cachesize=, writers held back
// while dirty chunks fill it, and a clear error when nothing can free room.
import Foundation
import Testing
@testable import Chunkvol
import ObjectStore
import StoreTestSupport

@Suite struct SpaceTests {
    @Test func cleanChunksAreEvictedPastTheLimitAndReadBack() throws {
        let folder = TemporaryFolder("evict")
        let options = "backend=local,path=\(folder.path)/store,cache=\(folder.path)/cache,chunksize=64K,cachesize=1M,uploads=2"
        let store = try VolumeStore(options: options, environment: [:])
        let data = randomBytes(5 << 20, seed: 9)   // five times the cache
        let v = try store.open("E", mode: [.readWrite, .create])
        for start in stride(from: 0, to: data.count, by: 100_000) { try v.write(Array(data[start..<min(data.count, start + 100_000)])) }
        try v.flush(timeout: 60)
        let usage = try store.cache.index.usage()
        #expect(usage.dirty == 0)
        #expect(usage.cached <= (1 << 20) + (64 << 10), "cached \(usage.cached) bytes with a 1 MiB limit")
        try v.seek(0)
        var back: [UInt8] = []
        while true { let part = try v.read(count: 300_000); if part.isEmpty { break }; back += part }
        #expect(back == data)
        #expect(try store.cache.index.usage().cached <= (1 << 20) + 2 * (64 << 10))
        try v.close()
    }

    @Test func writersWaitForUploadsAndFailClearlyWhenNothingFreesRoom() throws {
        let folder = TemporaryFolder("space")
        let options = "backend=local,path=\(folder.path)/store,cache=\(folder.path)/cache,chunksize=64K,cachesize=1M,upload=manual,space_timeout=1"
        let store = try VolumeStore(options: options, environment: [:])
        let v = try store.open("S", mode: [.write, .create])
        let data = randomBytes(3 << 20, seed: 10)
        var written = 0
        let started = Date()
        do {
            while written < data.count {
                try v.write(Array(data[written..<(written + 65_536)]))
                written += 65_536
            }
            Issue.record("3 MiB of dirty chunks went into a 1 MiB cache with uploads off")
        } catch let e as VolumeError {
            #expect(e.kind == .noSpace && e.errno == ENOSPC)
            #expect(e.sentence.contains("cachesize=1M") && e.sentence.contains("upload=manual"), "\(e)")
        }
        #expect(written >= 1 << 20 && written < 2 << 20, "stopped after \(written) bytes")
        #expect(Date().timeIntervalSince(started) < 30)
        // Nothing written is lost, and writing resumes once a flush has made room.
        try v.flush(timeout: 60)
        try v.write(Array(data[written..<(written + 65_536)]))
        try v.flush(timeout: 60)
        try v.close()
        let r = try store.open("S", mode: .read)
        #expect(try r.read(count: written + 65_536) == Array(data[0..<(written + 65_536)]))
    }
}
