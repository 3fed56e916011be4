// The server itself stopped mid-write: a private Swift all-in-one on its own ports (so the other
// tests' servers stay up), stopped while a volume is being written and started again afterwards.
import Foundation
import Testing
import Chunkvol
import ObjectStore
import StoreTestSupport

@Suite("Server stopped mid-write") struct ServerStoppedTests {
    static let scripts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("servers/swift-saio").path

    static func saio(_ verb: String, _ dir: String) throws -> ChildResult {
        try ChildProcess.run("/bin/bash", ["\(scripts)/\(verb)-saio.sh", dir],
                             environment: ["SAIO_PORT": "8095", "SAIO_BACKEND_PORT": "6330", "SAIO_NO_INSTALL": "1"])
    }

    @Test func writesContinueIntoTheCacheAndFlushCompletesWhenTheServerIsBack() throws {
        // Needs the Swift packages the shared SAIO uses; under CI they are installed by start-all.sh.
        guard try TestServers.require(.saioS3) != nil else { return }
        let dir = NSTemporaryDirectory() + "/saio-stopped-\(UUID().uuidString.prefix(6))"
        let started = try ServerStoppedTests.saio("start", dir)
        try check(started.status == 0, "the private SAIO did not start: \(started.stderr.suffix(500))")
        defer { _ = try? ChildProcess.run("/bin/bash", ["\(ServerStoppedTests.scripts)/stop-saio.sh", dir, "--purge"], environment: [:]) }

        let env = ["AWS_ACCESS_KEY_ID": "test:tester", "AWS_SECRET_ACCESS_KEY": "testing"]
        let folder = TemporaryFolder("stopped")
        let options = "backend=s3,endpoint=http://127.0.0.1:8095,bucket=stopped,cache=\(folder.path)/cache,chunksize=64K,"
            + "retries=1,retry_time=2,connect_timeout=1,io_timeout=2"
        let store = try VolumeStore(options: options, environment: env)
        try store.stack.unretried.createContainer()
        let data = randomBytes(10 * 65_536 + 99, seed: 51)
        let v = try store.open("Stopped-0001", mode: [.write, .create])
        try v.write(Array(data[0..<(3 * 65_536)]))
        try v.sync()

        let stopped = try ServerStoppedTests.saio("stop", dir)
        try check(stopped.status == 0, "stop-saio.sh failed: \(stopped.stderr)")
        try v.write(Array(data[(3 * 65_536)...]))   // into the cache: the store is away
        try v.sync()
        #expect { try v.flush(timeout: 60) } throws: { error in
            let text = "\(error)"
            return (error as? VolumeError)?.kind == .io && text.contains("cannot be reached") && text.contains("Stopped-0001")
        }
        #expect(try store.stat("Stopped-0001").dirtyChunks > 0, "the unsent chunks stay dirty")

        let again = try ServerStoppedTests.saio("start", dir)
        try check(again.status == 0, "the private SAIO did not start again: \(again.stderr.suffix(500))")
        try v.flush(timeout: 120)
        try v.close()
        _ = store.close(timeout: 60)
        let direct = try StoreStack.open(options: Options(parsing: "backend=s3,endpoint=http://127.0.0.1:8095,bucket=stopped"), environment: env).store
        let stored = try direct.listAll(prefix: "Stopped-0001/").flatMap { try direct.get($0.key, range: nil, into: .memory).bytes }
        #expect(stored == data, "after the server came back the store holds every byte")
    }
}

/// The store away for longer than every timeout (a proxy in front of SAIO, stopped): writes go on
/// into the cache until back-pressure, then fail with a sentence; flush and close return errors;
/// the dirty data stays; the next open after the store is back uploads it with no command.
@Suite("Store away") struct StoreAwayTests {
    @Test func backPressureThenErrorsThenUploadAtTheNextOpen() throws {
        guard let server = try TestServers.require(.saioS3) else { return }
        let container = TestServers.containerName("away2")
        let raw = try server.open(container: container).store
        var proxy = try FaultProxy(upstream: server.baseURL)
        let port = proxy.port
        let folder = TemporaryFolder("away2")
        let options = server.through(proxyPort: port).options + ",bucket=\(container),cache=\(folder.path)/cache,chunksize=64K,"
            + "cachesize=1M,space_timeout=3,retries=1,retry_time=1,connect_timeout=1,io_timeout=2"
        let data = randomBytes(3 << 20, seed: 61)
        var written = 0
        do {
            let store = try VolumeStore(options: options, environment: server.environment)
            let v = try store.open("Away-0002", mode: [.write, .create])
            try v.write(Array(data[0..<(256 << 10)]))
            written = 256 << 10
            try v.sync()
            proxy.stop()
            var failure: VolumeError? = nil
            while written < data.count {
                do { try v.write(Array(data[written..<(written + 65_536)])); written += 65_536 } catch let e as VolumeError { failure = e; break }
            }
            let e = try #require(failure, "3 MiB went into a 1 MiB cache with the store away")
            #expect(e.kind == .noSpace && "\(e)".contains("uploads did not free room within 3 s") && "\(e)".contains("check the store"), "\(e)")
            #expect(written >= 1 << 20, "writes went on into the cache until it was full: \(written) bytes")
            #expect { try v.flush(timeout: 30) } throws: { "\($0)".contains("cannot be reached") && "\($0)".contains("Away-0002") }
            #expect { try v.close() } throws: { "\($0)".contains("durable in the cache") && "\($0)".contains("upload(s) failed") }
            #expect(try store.stat("Away-0002").dirtyChunks > 0)
            _ = store.close(timeout: 10)
        }
        proxy = try FaultProxy(upstream: server.baseURL, port: port)
        defer { proxy.stop() }
        // No command: opening the store sends what was left.
        let store = try VolumeStore(options: options, environment: server.environment)
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, (try store.cache.index.usage().dirty) > 0 { usleep(100_000) }
        #expect(try store.cache.index.usage().dirty == 0)
        _ = store.close(timeout: 60)
        let stored = try raw.listAll(prefix: "Away-0002/").flatMap { try raw.get($0.key, range: nil, into: .memory).bytes }
        #expect(stored == Array(data[0..<written]))
        let manifest = try raw.get(".chunkvol/Away-0002.json", range: nil, into: .memory).bytes
        #expect(String(decoding: manifest, as: UTF8.self).contains("\"size\" : \(written)"))
    }
}
