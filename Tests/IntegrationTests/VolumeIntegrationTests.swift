// Volumes on the real servers: the model-based test, the request counts of the write and restore
// paths, the format on the store read by other tools, and a store that goes away mid-write.
import Foundation
import Testing
import Chunkvol
import ObjectStore
import StoreTestSupport

@Suite("Volumes on real servers") struct VolumeIntegrationTests {
    func options(_ server: ServerEndpoint, _ container: String, _ extra: String) -> String {
        server.options + (server.api.isS3 ? ",bucket=" : ",container=") + container + "," + extra
    }

    @Test(arguments: StoreAPI.allCases) func modelBasedSequence(_ api: StoreAPI) throws {
        guard let server = try TestServers.require(api) else { return }
        let container = TestServers.containerName("model")
        _ = try server.open(container: container)
        let folder = TemporaryFolder("model")
        let storeOptions = server.options + (api.isS3 ? ",bucket=" : ",container=") + container
        let stats = try runVolumeModel(storeOptions: storeOptions, environment: server.environment,
                                         cacheFolder: folder.path + "/cache", seed: UInt64(api.rawValue.count), steps: 150)
        #expect(stats.writes > 20 && stats.reopens > 2)
    }

    /// Writing S bytes sequentially under each-chunk: ceil(S / chunk size) chunk PUTs and one
    /// manifest PUT, no HEAD, no LIST past the open; reading back with a cold cache: the manifest's
    /// GET and one GET per chunk.
    @Test(arguments: StoreAPI.allCases) func requestCountsOfWriteAndRestore(_ api: StoreAPI) throws {
        guard let server = try TestServers.require(api) else { return }
        let container = TestServers.containerName("count")
        _ = try server.open(container: container)
        let folder = TemporaryFolder("count")
        let chunk = 64 << 10
        let size = 10 * chunk + 12_345
        let data = randomBytes(size, seed: 11)
        let o = options(server, container, "cache=\(folder.path)/cache,chunksize=64K,uploads=4")
        let store = try VolumeStore(options: o, environment: server.environment)
        let v = try store.open("counted", mode: [.write, .create])
        let afterOpen = store.requestCounts
        for start in stride(from: 0, to: size, by: 10_000) { try v.write(Array(data[start..<min(size, start + 10_000)])) }
        try v.close()
        #expect(store.close(timeout: 120))
        let write = store.requestCounts
        let chunks = (size + chunk - 1) / chunk
        let objects = try store.stack.store.listAll(prefix: "").map { "\($0.key):\($0.size)" }
        #expect(write[.PUT] - afterOpen[.PUT] == chunks + 1,
                "chunk PUTs plus the manifest: PUT \(write[.PUT]) after open \(afterOpen[.PUT]), retries \(write.retries), failures \(write.failures); objects \(objects)")
        #expect(write[.HEAD] == 0 && write[.LIST] == afterOpen[.LIST] && write[.GET] == afterOpen[.GET] && write[.DELETE] == 0)
        #expect(afterOpen[.GET] == 1 && afterOpen[.LIST] == 1, "opening a new volume: one GET of its manifest, one LIST")

        try FileManager.default.removeItem(atPath: folder.path + "/cache")
        let cold = try VolumeStore(options: o, environment: server.environment)
        let r = try cold.open("counted", mode: .read)
        var back: [UInt8] = []
        while true { let part = try r.read(count: 50_000); if part.isEmpty { break }; back += part }
        try r.close()
        _ = cold.close(timeout: 60)
        #expect(back == data)
        let read = cold.requestCounts
        #expect(read[.GET] == chunks + 1, "the manifest and one GET per chunk: \(read)")
        #expect(read[.PUT] == 0 && read[.LIST] == 0 && read[.HEAD] == 0)
    }

    /// After a flush, the chunk objects fetched by another tool and concatenated are the volume.
    @Test(arguments: StoreAPI.allCases) func chunksConcatenatedAreTheVolume(_ api: StoreAPI) throws {
        guard let server = try TestServers.require(api) else { return }
        let container = TestServers.containerName("interop")
        _ = try server.open(container: container)
        let folder = TemporaryFolder("interop")
        let data = randomBytes(5 * 65_536 + 777, seed: 21)
        let store = try VolumeStore(options: options(server, container, "cache=\(folder.path)/cache,chunksize=64K"), environment: server.environment)
        let v = try store.open("Full-0001", mode: [.write, .create])
        try v.write(data)
        try v.flush(timeout: 60)
        try v.close()
        _ = store.close(timeout: 60)
        let out = folder.path + "/download"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let fetched = try PeerTools.download(server, container: container, prefix: "Full-0001/", into: out)
        #expect(fetched.map(\.name) == ["0000", "0001", "0002", "0003", "0004", "0005"])
        let concatenated = fetched.flatMap(\.bytes)
        #expect(concatenated == data)
    }

    /// A volume made of V/0000, V/0001, ... uploaded by another tool (no manifest) opens and reads.
    @Test(arguments: StoreAPI.allCases) func volumeWrittenByAnotherToolReads(_ api: StoreAPI) throws {
        guard let server = try TestServers.require(api) else { return }
        let container = TestServers.containerName("foreign")
        _ = try server.open(container: container)
        let folder = TemporaryFolder("foreign")
        let chunk = 65_536
        let data = randomBytes(3 * chunk + 100, seed: 31)
        for (i, start) in stride(from: 0, to: data.count, by: chunk).enumerated() {
            let file = try folder.file("part\(i)", Array(data[start..<min(data.count, start + chunk)]))
            try PeerTools.upload(server, container: container, key: String(format: "Droplet-0007/%04d", i), file: file)
        }
        let store = try VolumeStore(options: options(server, container, "cache=\(folder.path)/cache"), environment: server.environment)
        let stat = try store.stat("Droplet-0007")
        #expect(stat.size == UInt64(data.count) && stat.chunkSize == UInt64(chunk) && stat.chunks == 4)
        let v = try store.open("Droplet-0007", mode: .read)
        #expect(try v.read(count: data.count + 10) == data)
        try v.seek(Int64(chunk - 5))
        #expect(try v.read(count: 10) == Array(data[(chunk - 5)..<(chunk + 5)]))
        try v.close()
        _ = store.close(timeout: 10)
    }

    /// The store away mid-write (every request refused by the proxy): writes go on into the cache,
    /// flush fails naming the chunks, nothing is lost; when the store is back a flush completes.
    @Test(arguments: [StoreAPI.saioS3, .rgwSwift]) func storeAwayThenBack(_ api: StoreAPI) throws {
        guard let server = try TestServers.require(api) else { return }
        let container = TestServers.containerName("away")
        _ = try server.open(container: container)
        let proxy = try FaultProxy(upstream: server.baseURL)
        let folder = TemporaryFolder("away")
        let o = options(server.through(proxyPort: proxy.port), container, "cache=\(folder.path)/cache,chunksize=64K,retries=2,io_timeout=2,connect_timeout=2")
        let store = try VolumeStore(options: o, environment: server.environment)
        let v = try store.open("outage", mode: [.write, .create])
        let data = randomBytes(8 * 65_536 + 3, seed: 41)
        try v.write(Array(data[0..<100_000]))
        try proxy.setRules(#"[{"path": "outage", "action": "503"}]"#)   // the store goes away
        try v.write(Array(data[100_000...]))
        #expect { try v.flush(timeout: 60) } throws: { error in
            let text = "\(error)"
            return (error as? VolumeError)?.kind == .io && text.contains("chunk") && text.contains("outage")
        }
        let dirty = try store.stat("outage").dirtyChunks
        #expect(dirty > 0)
        // The failure is kept beside the chunk (chunkctl status shows it) until an upload succeeds.
        #expect(try store.cache.index.chunks(of: "outage").contains { $0.state == .dirty && $0.error?.contains("503") == true })
        try proxy.setRules("[]")   // back
        try v.flush(timeout: 60)
        try v.close()
        _ = store.close(timeout: 60)
        let direct = try server.open(container: container, create: false).store
        let pieces = try direct.listAll(prefix: "outage/").map { try direct.get($0.key, range: nil, into: .memory).bytes }
        #expect(pieces.flatMap { $0 } == data)
    }
}

/// The other tools an operator would use: aws s3 cp (S3) and python-swiftclient's /usr/bin/swift.
enum PeerTools {
    static func environment(_ server: ServerEndpoint) -> [String: String] {
        var env = server.environment
        env["AWS_DEFAULT_REGION"] = "us-east-1"
        env["AWS_EC2_METADATA_DISABLED"] = "true"
        if !server.api.isS3 {
            let auth = server.options.components(separatedBy: "endpoint=").last ?? ""
            env["ST_AUTH"] = auth
        }
        return env
    }

    static func upload(_ server: ServerEndpoint, container: String, key: String, file: String) throws {
        let r: ChildResult
        if server.api.isS3 {
            r = try ChildProcess.run("/usr/bin/env", ["aws", "--endpoint-url", server.baseURL, "s3", "cp", "--only-show-errors", file, "s3://\(container)/\(key)"], environment: environment(server))
        } else {
            r = try ChildProcess.run("/usr/bin/swift", ["upload", "--object-name", key, container, file], environment: environment(server))
        }
        try check(r.status == 0, "upload of \(key) by the peer tool failed: \(r.stderr)")
    }

    /// Every object under `prefix`, downloaded by the peer tool, sorted by name.
    static func download(_ server: ServerEndpoint, container: String, prefix: String, into folder: String) throws -> [(name: String, bytes: [UInt8])] {
        let r: ChildResult
        if server.api.isS3 {
            r = try ChildProcess.run("/usr/bin/env", ["aws", "--endpoint-url", server.baseURL, "s3", "cp", "--recursive", "--only-show-errors",
                                                      "s3://\(container)/\(prefix)", folder], environment: environment(server))
        } else {
            r = try ChildProcess.run("/usr/bin/swift", ["download", "--prefix", prefix, "--output-dir", folder, container], environment: environment(server))
        }
        try check(r.status == 0, "download by the peer tool failed: \(r.stderr)")
        let base = server.api.isS3 ? folder : folder + "/" + prefix
        let names = try FileManager.default.contentsOfDirectory(atPath: base).sorted()
        return try names.map { ($0, [UInt8](try Data(contentsOf: URL(fileURLWithPath: base + "/" + $0)))) }
    }
}
