// swift-tools-version:6.1
// chunkvol: volumes on object storage, cut into fixed-size chunk objects.
// Layers (../shared/DESIGN.md, Spec/): Platform (one wrapper per C library) <- ObjectStore
// (S3, Swift, Local backends and their decorators) <- faces (chunkctl).
import PackageDescription

let package = Package(
    name: "chunkvol",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "Chunkvol", targets: ["Chunkvol"]),
        .library(name: "ObjectStore", targets: ["ObjectStore"]),
        .executable(name: "chunkctl", targets: ["chunkctl"]),
        // libchunkvol.so, the C API a storage daemon links (chunkvol.h, Spec/c-api.md).
        // `make install` builds it with the Swift runtime linked in and only chunkvol_* exported.
        .library(name: "chunkvol", type: .dynamic, targets: ["CChunkvolAPI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C libraries, each seen by exactly one Swift file in Platform.
        .systemLibrary(name: "CCurl", path: "Sources/CCurl", pkgConfig: "libcurl",
                       providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CCrypto", path: "Sources/CCrypto", pkgConfig: "libcrypto",
                       providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CXML2", path: "Sources/CXML2", pkgConfig: "libxml-2.0",
                       providers: [.apt(["libxml2-dev"])]),
        .systemLibrary(name: "CSQLite3", path: "Sources/CSQLite3", pkgConfig: "sqlite3",
                       providers: [.apt(["libsqlite3-dev"])]),
        // curl_easy_setopt and curl_easy_getinfo are variadic: typed C setters stand in for them.
        .target(name: "CCurlShim", dependencies: ["CCurl"], path: "Sources/CCurlShim"),

        .target(name: "Platform", dependencies: ["CCurl", "CCurlShim", "CCrypto", "CXML2", "CSQLite3"],
                path: "Sources/Platform"),
        .target(name: "ObjectStore", dependencies: ["Platform"], path: "Sources/ObjectStore"),
        // The cache layer: the SQLite index and the chunk files of one cache folder.
        .target(name: "ChunkCache", dependencies: ["Platform", "ObjectStore"], path: "Cache"),
        // The transfer engine: uploads and downloads on a bounded set of workers.
        .target(name: "Transfer", dependencies: ["Platform", "ObjectStore"], path: "Sources/Transfer"),
        // The volume layer and the Swift API (VolumeStore, Volume).
        .target(name: "Chunkvol", dependencies: ["Platform", "ObjectStore", "ChunkCache", "Transfer"],
                path: "Sources/Chunkvol"),
        // The C API: the installed header as a Clang module, and the @_cdecl functions behind it.
        .systemLibrary(name: "CChunkvolHeader", path: "Sources/CChunkvolHeader"),
        .target(name: "CChunkvolAPI", dependencies: ["Chunkvol", "CChunkvolHeader", "Platform"],
                path: "Sources/CChunkvolAPI"),
        .executableTarget(name: "chunkctl", dependencies: [
            "Chunkvol", "ChunkCache", "ObjectStore", "Platform",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Sources/chunkctl"),

        // Checks shared by the unit and integration tests: the store contract, the test servers,
        // the fault proxy and a runner for chunkctl.
        .target(name: "StoreTestSupport", dependencies: ["Chunkvol", "ObjectStore", "Platform"], path: "Tests/StoreTestSupport"),
        .testTarget(name: "PlatformTests", dependencies: ["Platform"], path: "Tests/PlatformTests"),
        .testTarget(name: "ObjectStoreTests", dependencies: ["ObjectStore", "Platform", "StoreTestSupport"],
                    path: "Tests/ObjectStoreTests"),
        // The crash test's child: writes, syncs, reports; the test SIGKILLs it.
        .executableTarget(name: "chunkvol-crashwriter", dependencies: ["Chunkvol", "StoreTestSupport"], path: "Tests/CrashWriter"),
        .testTarget(name: "ChunkvolTests", dependencies: ["Chunkvol", "ChunkCache", "ObjectStore", "Platform", "StoreTestSupport"],
                    path: "Tests/ChunkvolTests"),
        // Against real servers started on 127.0.0.1 by Tests/servers/start-all.sh.
        .testTarget(name: "IntegrationTests", dependencies: ["Chunkvol", "ObjectStore", "Platform", "StoreTestSupport"],
                    path: "Tests/IntegrationTests"),
    ]
)
