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
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .cpuTotal, .throughput, .mallocCountTotal],
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
        Benchmark(name, configuration: .init(metrics: [.wallClock, .cpuTotal, .throughput])) { benchmark in
            for _ in benchmark.scaledIterations {
                var d = Digest(algorithm)
                d.update(UnsafeRawBufferPointer(block))
                blackHole(d.finish())
            }
        }
    }

    // Cache index: one chunk record saved (one WAL commit, synchronous=FULL), and one state change.
    let folder = NSTemporaryDirectory() + "chunkvol-microbench-\(getpid())"
    try? FileManager.default.removeItem(atPath: folder)
    try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    Benchmark("index: save a chunk record") { benchmark in
        let index = try CacheIndex(path: folder + "/save.sqlite", store: "bench")
        var n = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            try index.save(ChunkRecord(volume: "Full-0001", number: n % 4096, length: 67_108_864, state: .dirty, cached: true))
            n += 1
        }
    }
    Benchmark("index: mark a chunk uploading") { benchmark in
        let index = try CacheIndex(path: folder + "/mark.sqlite", store: "bench")
        for n in 0..<256 { try index.save(ChunkRecord(volume: "Full-0001", number: n, length: 67_108_864, state: .dirty, cached: true)) }
        var n = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            try index.mark("Full-0001", n % 256, state: n % 2 == 0 ? .uploading : .dirty, error: nil)
            n += 1
        }
    }
    Benchmark("index: cache usage query (256 chunks)") { benchmark in
        let index = try CacheIndex(path: folder + "/usage.sqlite", store: "bench")
        for n in 0..<256 { try index.save(ChunkRecord(volume: "Full-0001", number: n, length: 67_108_864, state: .clean, cached: true)) }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(try index.usage()) }
    }

    // Small random reads: 4 KiB at random offsets of a 64 MiB volume whose chunks are all cached.
    Benchmark("volume: 4 KiB random read, cached") { benchmark in
        let options = "backend=local,path=\(folder)/store,cache=\(folder)/cache,chunksize=4M,upload=manual"
        let store = try VolumeStore(options: options)
        let w = try store.open("Random-0001", mode: [.write, .create, .truncate])
        let data = [UInt8](UnsafeRawBufferPointer(block))
        for _ in 0..<64 { try w.write(data) }
        try w.close()
        let v = try store.open("Random-0001", mode: .read)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
        defer { buffer.deallocate() }
        var rng = SystemRandomNumberGenerator()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            try v.seek(Int64.random(in: 0..<(64 * Int64(mib) - 4096), using: &rng) & ~4095)
            blackHole(try v.read(into: buffer))
        }
        benchmark.stopMeasurement()
        try v.close()
        store.close(timeout: 10)
    }
}
