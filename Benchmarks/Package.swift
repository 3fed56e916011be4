// swift-tools-version:6.1
// Microbenchmarks of chunkvol (ordo-one/benchmark): SigV4 signing, SHA-256 and MD5 throughput,
// cache index updates, small random reads from a cached volume. A package of its own so the main
// package and CI never build the benchmark dependency. Run: bash Benchmarks/run.sh (or, here,
// /opt/swift/usr/bin/swift package benchmark).
import PackageDescription

let package = Package(
    name: "chunkvol-benchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "chunkvol", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", exact: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "ChunkvolBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Chunkvol", package: "chunkvol"),
                .product(name: "ObjectStore", package: "chunkvol"),
            ],
            path: "Benchmarks/ChunkvolBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
