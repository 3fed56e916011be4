// The microbenchmarks of the performance issue. Throughput benchmarks count one iteration per MiB
// hashed, so their "throughput" line reads in MiB/s; run.sh prints `openssl speed -evp sha256` of
// the same machine beside them.
import Benchmark
import Foundation
import Chunkvol
import ChunkCache
import ObjectStore
import Platform

private let mib = 1 << 20

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput, .mallocCountTotal],
                                           maxDuration: .seconds(3), maxIterations: 1_000_000)

    // SigV4: one PUT signed with its payload hash, as S3Store signs every request.
    let signer = SigV4Signer(credentials: AWSCredentials(accessKeyID: "AKIDEXAMPLE",
                                                         secretAccessKey: Secret("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")),
                             region: "us-east-1")
    let payload = String(repeating: "ab", count: 32)
    Benchmark("SigV4 sign one PUT") { benchmark in
        for _ in benchmark.scaledIterations {
            let signed = signer.sign(.init(method: "PUT", path: "/bench-bucket/Full-0001/0042",
                                           headers: [("host", "127.0.0.1:7480"), ("Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg==")],
                                           payloadHash: payload),
                                     date: Date(timeIntervalSince1970: 1_790_000_000), placement: .headers(signPayloadHeader: true))
            blackHole(signed.signature)
        }
    }

    // Hashing: one iteration = 1 MiB, so iterations per second = MiB/s.
    let block = UnsafeMutableRawBufferPointer.allocate(byteCount: mib, alignment: 64)
    for i in 0..<mib { block[i] = UInt8(truncatingIfNeeded: i &* 2654435761 >> 13) }
    for (name, algorithm) in [("SHA-256 1 MiB", Digest.Algorithm.sha256), ("MD5 1 MiB", Digest.Algorithm.md5)] {
        Benchmark(name, configuration: .init(metrics: [.wallClock, .throughput])) { benchmark in
            for _ in benchmark.scaledIterations {
                var d = Digest(algorithm)
                d.update(UnsafeRawBufferPointer(block))
                blackHole(d.finish())
            }
        }
    }

    // Cache index: one chunk record saved (one WAL commit, synchronous=FULL), one state change, and
    // the usage query a writer makes before every write. Fixtures are made once per process.
    let folder = NSTemporaryDirectory() + "chunkvol-microbench-\(getpid())"
    try? FileManager.default.removeItem(atPath: folder)
    try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let fixtures = Fixtures(folder: folder, block: UnsafeRawBufferPointer(block))
    Benchmark("index: save a chunk record (one commit)") { benchmark in
        let index = try fixtures.index("save")
        for _ in benchmark.scaledIterations {
            try index.save(ChunkRecord(volume: "Full-0001", number: fixtures.next() % 4096, length: 67_108_864, state: .dirty, cached: true))
        }
    }
    Benchmark("index: mark a chunk uploading (one commit)") { benchmark in
        let index = try fixtures.index("mark")
        for _ in benchmark.scaledIterations {
            let i = fixtures.next()
            try index.mark("Full-0001", i % 256, state: i % 2 == 0 ? .uploading : .dirty, error: nil)
        }
    }
    Benchmark("index: usage before a write (256 chunks)", configuration: .init(scalingFactor: .kilo)) { benchmark in
        let index = try fixtures.index("usage")
        for _ in benchmark.scaledIterations { blackHole(try index.usage()) }
    }

    // Small random reads: 4 KiB at random offsets of a 64 MiB volume (4 MiB chunks), all cached.
    Benchmark("volume: 4 KiB random read, cached", configuration: .init(scalingFactor: .kilo)) { benchmark in
        let v = try fixtures.volume()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
        defer { buffer.deallocate() }
        var rng = SystemRandomNumberGenerator()
        for _ in benchmark.scaledIterations {
            try v.seek(Int64.random(in: 0..<(64 * Int64(mib) - 4096), using: &rng) & ~4095)
            blackHole(try v.read(into: buffer))
        }
    }
}

/// What the index and volume benchmarks work on, made on first use and kept for the process.
final class Fixtures: @unchecked Sendable {
    let folder: String
    let block: UnsafeRawBufferPointer
    private var indexes: [String: CacheIndex] = [:]
    private var store: VolumeStore?
    private var reader: Volume?
    private var counter = 0
    init(folder: String, block: UnsafeRawBufferPointer) { self.folder = folder; self.block = block }
    func next() -> Int { counter += 1; return counter }

    func index(_ name: String) throws -> CacheIndex {
        if let i = indexes[name] { return i }
        let index = try CacheIndex(path: folder + "/\(name).sqlite", store: "bench")
        try index.transaction {
            for n in 0..<256 {
                try index.saveUnlocked(ChunkRecord(volume: "Full-0001", number: n, length: 67_108_864, state: .clean, cached: true))
            }
        }
        indexes[name] = index
        return index
    }

    func volume() throws -> Volume {
        if let reader { return reader }
        let store = try VolumeStore(options: "backend=local,path=\(folder)/store,cache=\(folder)/cache,chunksize=4M,upload=manual")
        let w = try store.open("Random-0001", mode: [.write, .create, .truncate])
        for _ in 0..<64 { try w.write(block) }
        try w.close()
        let v = try store.open("Random-0001", mode: .read)
        self.store = store
        reader = v
        return v
    }
}
