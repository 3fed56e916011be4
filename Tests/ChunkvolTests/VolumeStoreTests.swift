// VolumeStore's own verbs, several volumes written at once, and memory that does not grow with the
// chunk size or the number of concurrent uploads.
import Foundation
import Testing
@testable import Chunkvol
import ObjectStore
import StoreTestSupport

@Suite struct VolumeStoreTests {
    @Test func listStatAndRemove() throws {
        let folder = TemporaryFolder("list")
        let options = "backend=local,path=\(folder.path)/store,cache=\(folder.path)/cache,chunksize=4K"
        let store = try VolumeStore(options: options, environment: [:])
        for (name, size) in [("A-0001", 10_000), ("B-0002", 4096), ("C-0003", 0)] {
            let v = try store.open(name, mode: [.write, .create])
            try v.write(randomBytes(size, seed: UInt64(size)))
            try v.flush(timeout: 30)
            try v.close()
        }
        let listed = try store.list()
        #expect(listed.map(\.name) == ["A-0001", "B-0002", "C-0003"])
        #expect(listed.map(\.size) == [10_000, 4096, 0])
        #expect(listed.map(\.chunks) == [3, 1, 0])
        // Another cache sees the same volumes, from the store alone.
        let other = try VolumeStore(options: "backend=local,path=\(folder.path)/store,cache=\(folder.path)/cache2", environment: [:])
        #expect(try other.list().map(\.name) == ["A-0001", "B-0002", "C-0003"])
        #expect(try other.stat("A-0001").chunkSize == 4096)
        try store.remove("A-0001")
        #expect(try store.list().map(\.name) == ["B-0002", "C-0003"])
        #expect(try LocalStore(root: folder.path + "/store").listAll(prefix: "A-0001").isEmpty)
        #expect { try store.remove("A-0001") } throws: { ($0 as? VolumeError)?.kind == .notFound }
        #expect { _ = try store.stat("../etc") } throws: { ($0 as? VolumeError)?.kind == .invalid }
    }

    @Test func differentVolumesWrittenAtOnceFromSeveralThreads() throws {
        let folder = TemporaryFolder("threads")
        let store = try VolumeStore(options: "backend=local,path=\(folder.path)/store,cache=\(folder.path)/cache,chunksize=16K,uploads=4", environment: [:])
        let failures = Failures()
        DispatchQueue.concurrentPerform(iterations: 6) { i in
            do {
                let data = randomBytes(200_000 + i * 1000, seed: UInt64(100 + i))
                let v = try store.open("T-\(i)", mode: [.write, .create])
                var at = 0
                while at < data.count { let n = min(7_000 + i, data.count - at); try v.write(Array(data[at..<(at + n)])); at += n }
                try v.close()
            } catch { failures.add("\(i): \(error)") }
        }
        #expect(failures.all.isEmpty, "\(failures.all)")
        try store.flush(timeout: 60)
        for i in 0..<6 {
            let r = try store.open("T-\(i)", mode: .read)
            #expect(try r.read(count: 300_000) == randomBytes(200_000 + i * 1000, seed: UInt64(100 + i)))
            try r.close()
        }
    }

    /// Bodies stream from chunk files: the peak memory of an import is about the same with 1 MiB
    /// chunks and 2 uploads as with 32 MiB chunks and 8 uploads.
    @Test func importMemoryDoesNotGrowWithChunkSizeOrConcurrency() throws {
        let folder = TemporaryFolder("memory")
        let input = try folder.file("in", randomBytes(160 << 20, seed: 77))
        func peak(_ extra: String, _ tag: String) throws -> Int {
            let o = "backend=local,path=\(folder.path)/store-\(tag),cache=\(folder.path)/cache-\(tag),\(extra)"
            let r = try ChildProcess.chunkctl(["-o", o, "import", "M", input], environment: [:])
            try check(r.status == 0, "import failed: \(r.stderr)")
            return r.maxRSSKiB
        }
        let small = try peak("chunksize=1M,uploads=2", "small")
        let large = try peak("chunksize=32M,uploads=8", "large")
        print("import of 160 MiB: peak RSS \(small / 1024) MiB (1M chunks, 2 uploads), \(large / 1024) MiB (32M chunks, 8 uploads)")
        #expect(large < small + 16 * 1024, "peak RSS \(large) KiB with 32M chunks and 8 uploads vs \(small) KiB with 1M and 2")
        #expect(large < 64 * 1024)
    }
}

final class Failures: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func add(_ s: String) { lock.lock(); items.append(s); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return items }
}

@Suite struct ManifestTimingTests {
    /// The manifest follows every close, however the uploads' ends and the close interleave.
    @Test func everyCloseEndsWithAManifest() throws {
        let folder = TemporaryFolder("manifest")
        for round in 0..<40 {
            let options = "backend=local,path=\(folder.path)/store,cache=\(folder.path)/cache-\(round),chunksize=4K,uploads=4"
            let store = try VolumeStore(options: options, environment: [:])
            let v = try store.open("M-\(round)", mode: [.write, .create])
            for at in stride(from: 0, to: 11 * 4096 + 100, by: 3000) { try v.write(randomBytes(3000, seed: UInt64(at))) }
            try v.close()
            #expect(store.close(timeout: 30))
            let manifest = try? LocalStore(root: folder.path + "/store").head(".chunkvol/M-\(round).json")
            #expect(manifest != nil, "round \(round): no manifest after close")
        }
    }
}
