// What the transfer path promises: sequential writes are hashed as they arrive (an upload does not
// read its chunk a second time), and sequential reads fetch ahead up to readahead= chunks.
import Foundation
import Testing
@testable import Chunkvol
import ObjectStore
import StoreTestSupport

@Suite struct TransferTests {
    @Test func sequentialWritesAreNotReadAgainToHash() throws {
        let folder = TemporaryFolder("hash")
        let store = try VolumeStore(options: "backend=local,path=\(folder.path)/store,cache=\(folder.path)/cache,chunksize=64K", environment: [:])
                let v = try store.open("H", mode: [.readWrite, .create])
        let data = randomBytes(10 * 65_536, seed: 61)
        for at in stride(from: 0, to: data.count, by: 10_000) { try v.write(Array(data[at..<min(data.count, at + 10_000)])) }
        try v.flush(timeout: 30)
        #expect(store.uploadsHashedFromFile == 0, "10 chunks written in order: no chunk file read to hash it")
        try v.seek(70_000)
        try v.write([1, 2, 3])   // a write into the middle of chunk 1: its hash must come from the file
        try v.flush(timeout: 30)
        #expect(store.uploadsHashedFromFile == 1)
        try v.close()
    }

    /// upload=manual leaves the uploads to `chunkctl flush`, another process that hashes the files:
    /// the writer does not hash, and a flush here hashes each file once, giving the same manifest.
    @Test func manualPolicyHashesAtUploadOnly() throws {
        let folder = TemporaryFolder("hash-manual")
        let options = "backend=local,path=\(folder.path)/store,cache=\(folder.path)/cache,chunksize=64K,upload=manual"
        let store = try VolumeStore(options: options, environment: [:])
        let v = try store.open("M", mode: [.readWrite, .create])
        let data = randomBytes(4 * 65_536 + 100, seed: 63)
        for at in stride(from: 0, to: data.count, by: 10_000) { try v.write(Array(data[at..<min(data.count, at + 10_000)])) }
        try v.flush(timeout: 30)
        #expect(store.uploadsHashedFromFile == 5, "5 chunks, each hashed from its file at upload")
        try v.close()
        store.close()
        let reader = try VolumeStore(options: options.replacingOccurrences(of: "/cache", with: "/cold"), environment: [:])
        let r = try reader.open("M", mode: .read)
        #expect(try r.read(count: data.count + 1) == data, "read back through the manifest's checksums")
        try r.close()
    }

    @Test(arguments: [0, 2]) func sequentialReadsFetchAheadUpToTheCap(_ readahead: Int) throws {
        let folder = TemporaryFolder("ahead")
        let options = "backend=local,path=\(folder.path)/store,cache=\(folder.path)/cache,chunksize=64K,readahead=\(readahead)"
        let writer = try VolumeStore(options: options, environment: [:])
        let v = try writer.open("R", mode: [.write, .create])
        try v.write(randomBytes(8 * 65_536, seed: 62))
        try v.flush(timeout: 30)
        try v.close()
        _ = writer.close(timeout: 30)
        try FileManager.default.removeItem(atPath: folder.path + "/cache")
        let reader = try VolumeStore(options: options, environment: [:])
        let r = try reader.open("R", mode: .read)
        _ = try r.read(count: 100)   // the start of chunk 0: a sequential run begins
        _ = reader.close(timeout: 30)   // let the read-ahead finish
        let cached = try reader.cache.index.chunks(of: "R").filter(\.cached).map(\.number)
        #expect(cached == Array(0...readahead), "cached after reading the start of chunk 0: \(cached)")
    }
}
