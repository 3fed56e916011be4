// The fault soak: a seeded workload of several volumes (writes, appends, truncates, cold reads after
// evict) through the fault-injecting proxy in front of each real server API, with faults drawn at
// random (seeded) on every request: 503, 500, 429, SlowDown, connection resets (after and before the
// body), stalls longer than io_timeout, responses cut short, and on S3 a RequestTimeTooSkewed answer
// with a skewed Date. A few rules on top make sure every kind of fault fires at least once.
//
// At the end:
// - every volume read back directly from the server (no proxy, an empty cache) and its chunk objects
//   concatenated are byte for byte the model (an in-memory byte array per volume): nothing lost;
// - the cost report (`chunkctl cost --json`, read from the counters in the cache index) holds exactly
//   the requests on the wire and the faults injected. The relation, per proxy log entry:
//     * every request on the wire is counted once, under its kind (requests == log entries, kind by kind);
//     * a fault the client sees as an error (a 5xx/429/SlowDown answer, a reset, a stall past
//       io_timeout, a body cut short) is one failed request, and is retried once: by the Retrying
//       decorator, or by libcurl itself when the reset hit a reused connection before any answer
//       (RequestLedger.recordResends counts that as a failure and a retry, and the re-send is the next
//       log entry);
//     * a `truncate` of an answer without a body (HEAD, a PUT's or DELETE's empty answer: the proxy
//       passes those whole and only closes the connection, bytes_out 0) is no fault to the client;
//     * a `skew` answer is a retry but no failure: S3Store re-signs with the server's time and
//       re-sends at once, the re-send counted as a request with a retry mark.
//   So failures == effective faults, retries == effective faults + skews, and nothing else fails.
//
// Stalls last 10 s with io_timeout=2: libcurl's low-speed check averages the speed over its last
// ~5 s, so a transfer that stops dead is abandoned after io_timeout plus up to ~5 s; a shorter stall
// ends with the proxy closing the connection and libcurl re-sending (the reset case), never the
// timeout.
//
// SOAK_SEED=N changes the seed (default 2026); the test prints its figures. A failure leaves the
// proxy's log (JSON) in the temporary folder.
import Foundation
import Testing
import ObjectStore
import Platform
import StoreTestSupport
import Chunkvol

@Suite("Fault soak", .serialized) struct FaultSoakTests {
    static let chunk = 65_536
    static let steps = 60

    static func randomFaults(_ api: StoreAPI) -> String {
        var spec = "503=0.025,500=0.025,429=0.02,slowdown=0.02,reset=0.03,reset-before-body=0.015,truncate=0.04,stall:10=0.002"
        if api.isS3 { spec += ",skew:300=0.02" }
        return spec
    }

    /// At least one fault of every kind, whatever the random draw.
    static func floorRules(_ api: StoreAPI) -> String {
        var rules = [
            #"{"method": "PUT", "nth": [3], "action": "stall:10"}"#,
            #"{"method": "GET", "nth": [2], "action": "truncate"}"#,
            #"{"method": "PUT", "nth": [6], "action": "reset"}"#,
            #"{"method": "GET", "nth": [5], "action": "slowdown"}"#,
            #"{"method": "PUT", "nth": [9], "action": "429"}"#,
            #"{"method": "PUT", "nth": [12], "action": "500"}"#,
            #"{"method": "GET", "nth": [8], "action": "503"}"#,
            #"{"method": "PUT", "nth": [15], "action": "reset-before-body"}"#,
        ]
        if api.isS3 { rules.append(#"{"method": "PUT", "nth": [18], "action": "skew:300"}"#) }
        else { rules.append(#"{"path": "/auth/", "nth": [1], "action": "503"}"#) }   // the token request too
        return "[" + rules.joined(separator: ",\n") + "]"
    }

    struct Figures: CustomStringConvertible {
        var injected: [String: Int] = [:]
        var effective = 0, skews = 0, requests = 0, retries = 0, failures = 0
        var bytesWritten = 0, bytesVerified = 0, volumes = 0, seconds = 0.0
        var description: String {
            "\(requests) requests, injected \(injected.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))"
                + "; \(effective) seen as failures, \(skews) skews; cost report: \(retries) retries, \(failures) failures;"
                + " \(bytesWritten) bytes written, \(bytesVerified) verified in \(volumes) volumes, 0 lost; \(String(format: "%.1f", seconds)) s"
        }
    }

    @Test(arguments: StoreAPI.allCases) func soak(_ api: StoreAPI) throws {
        guard let server = try TestServers.require(api) else { return }
        let seed = UInt64(ProcessInfo.processInfo.environment["SOAK_SEED"] ?? "") ?? 2026
        let started = Date()
        let container = TestServers.containerName("soak")
        _ = try server.open(container: container)
        let proxy = try FaultProxy(upstream: server.baseURL, rules: FaultSoakTests.floorRules(api),
                                   random: FaultSoakTests.randomFaults(api), seed: Int(seed) + api.hashValueStable)
        let folder = TemporaryFolder("soak")
        let bucket = (api.isS3 ? ",bucket=" : ",container=") + container
        let volumeOptions = ",chunksize=64K,uploads=3,readahead=2,retries=10,retry_time=120,connect_timeout=2,io_timeout=2"
        let options = server.through(proxyPort: proxy.port).options + bucket + ",cache=\(folder.path)/cache" + volumeOptions

        var figures = Figures()
        func dumpLog() {
            if let r = try? HTTPClient().perform(HTTPRequest(method: "GET", url: "http://127.0.0.1:\(proxy.port)/__faultproxy/log")) {
                let file = NSTemporaryDirectory() + "/soak-\(api.hashValueStable)-\(seed).json"
                try? Data(r.body).write(to: URL(fileURLWithPath: file))
                print("fault soak \(api): the proxy's log is in \(file)")
            }
        }
        let models: [String: [UInt8]]
        do {
            models = try FaultSoakTests.workload(options: options, environment: server.environment,
                                                 seed: seed &+ UInt64(api.hashValueStable), figures: &figures)
        } catch { dumpLog(); throw error }

        // Nothing lost: each volume read back directly from the server with an empty cache, and its
        // chunk objects concatenated, equal the model.
        let direct = try VolumeStore(options: server.options + bucket + ",cache=\(folder.path)/direct" + volumeOptions,
                                     environment: server.environment)
        for (name, model) in models.sorted(by: { $0.key < $1.key }) {
            let v = try direct.open(name, mode: [.read])
            let back = try v.read(count: model.count + FaultSoakTests.chunk)
            try v.close()
            #expect(back == model, "\(api) \(name): read back \(back.count) bytes, the model has \(model.count); first difference at \(zip(back, model).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(back.count, model.count))")
            let objects = try direct.stack.store.listAll(prefix: direct.layout.chunkPrefix(name))
            #expect(objects.map(\.key) == (0..<objects.count).map { direct.layout.chunkKey(name, $0) }, "\(name): chunk objects \(objects.map(\.key))")
            let stored = try objects.flatMap { try direct.stack.store.get($0.key, range: nil, into: .memory).bytes }
            #expect(stored == model, "\(api) \(name): the chunk objects concatenated differ from the model")
            if back == model && stored == model { figures.bytesVerified += model.count } else { dumpLog() }
        }
        _ = direct.close(timeout: 10)

        // The cost report against the proxy's log.
        let cost = try ChildProcess.chunkctl(["-o", options, "cost", "--json"], environment: server.environment)
        try check(cost.status == 0, "chunkctl cost: \(cost.status) \(cost.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(cost.stdout.utf8)) as? [String: Any])
        let counted = try #require(report["requests"] as? [String: Int])
        let log = try proxy.log()
        proxy.stop()
        var wire: [String: Int] = [:]
        for e in log {
            wire[FaultProxy.kind(e, api: api).rawValue, default: 0] += 1
            guard let action = e.injected else { continue }
            let kind = action.hasPrefix("stall") ? "stall" : action.hasPrefix("skew") ? "skew" : action
            figures.injected[kind, default: 0] += 1
            if kind == "skew" { figures.skews += 1 }
            else if kind == "truncate" && (e.bytes_out ?? 0) == 0 { continue }   // a bodiless answer, passed whole
            else { figures.effective += 1 }
        }
        figures.requests = log.count
        figures.retries = report["retries"] as? Int ?? -1
        figures.failures = report["failures"] as? Int ?? -1
        figures.seconds = Date().timeIntervalSince(started)
        print("fault soak \(api), seed \(seed): \(figures)")

        // A request libcurl wrote into a kept-alive connection the proxy had just closed is sent,
        // fails and is re-sent (RequestLedger.recordResends), but never reaches the proxy's log: the
        // only difference allowed, each one exactly one more failure and one more retry.
        var unlogged = 0
        for kind in RequestKind.allCases {
            let extra = (counted[kind.rawValue] ?? 0) - (wire[kind.rawValue] ?? 0)
            #expect(extra >= 0 && extra <= 2,
                    "\(api) \(kind): the cost report counts \(counted[kind.rawValue] ?? -1), the proxy saw \(wire[kind.rawValue] ?? 0)")
            unlogged += max(0, extra)
        }
        #expect(unlogged <= 3, "\(api): \(unlogged) requests counted that the proxy never saw")
        #expect(figures.failures == figures.effective + unlogged,
                "\(api): \(figures.failures) failures counted, \(figures.effective) faults the client saw, \(unlogged) unlogged re-sends")
        #expect(figures.retries == figures.effective + figures.skews + unlogged,
                "\(api): \(figures.retries) retries counted, \(figures.effective) faults + \(figures.skews) skews + \(unlogged) unlogged re-sends")
        let kinds = ["503", "500", "429", "slowdown", "reset", "reset-before-body", "truncate", "stall"] + (api.isS3 ? ["skew"] : [])
        for k in kinds { #expect(figures.injected[k, default: 0] > 0, "\(api): no \(k) fault was injected") }
        #expect(figures.effective >= 15, "\(api): only \(figures.effective) faults")
        #expect(log.count < 2000, "\(api): \(log.count) requests: the soak is bounded")
        #expect(figures.seconds < 60, "\(api): the soak took \(figures.seconds) s")
        // Clean up the container, directly.
        let raw = try server.open(container: container, create: false).store
        let keys = try raw.listAll(prefix: "").map(\.key)
        _ = try? raw.delete(keys: keys)
    }

    /// Runs the seeded steps on three volumes and returns the model of each.
    static func workload(options: String, environment: [String: String], seed: UInt64,
                         figures: inout Figures) throws -> [String: [UInt8]] {
        var rng = SeededGenerator(seed: seed)
        let names = ["Soak-A", "Soak-B", "Soak-C"]
        var models: [String: [UInt8]] = [:]
        let store = try VolumeStore(options: options, environment: environment)
        func bytes(_ n: Int) -> [UInt8] { randomBytes(n, seed: rng.next()) }
        for step in 0..<steps {
            let name = names[Int.random(in: 0..<names.count, using: &rng)]
            var model = models[name] ?? []
            let op = Int.random(in: 0..<100, using: &rng)
            let v = try store.open(name, mode: [.readWrite, .create])
            switch op {
            case 0..<35:   // overwrite or extend at a random offset
                let at = Int.random(in: 0...model.count, using: &rng)
                let data = bytes(Int.random(in: 1...(2 * chunk + 5000), using: &rng))
                try v.seek(Int64(at))
                _ = try v.write(data)
                if at + data.count > model.count { model += [UInt8](repeating: 0, count: at + data.count - model.count) }
                model.replaceSubrange(at..<(at + data.count), with: data)
                figures.bytesWritten += data.count
            case 35..<60:  // append
                let data = bytes(Int.random(in: 1...(3 * chunk), using: &rng))
                try v.seek(0, from: .end)
                _ = try v.write(data)
                model += data
                figures.bytesWritten += data.count
            case 60..<72:  // truncate, shorter or longer
                let length = Int.random(in: 0...(model.count + chunk), using: &rng)
                try v.truncate(to: UInt64(length))
                if length < model.count { model.removeLast(model.count - length) }
                else { model += [UInt8](repeating: 0, count: length - model.count) }
            case 72..<88:  // a cold read: flushed, evicted, read back from the store
                try v.flush(timeout: 120)
                try v.close()
                try store.evict([name])
                let r = try store.open(name, mode: [.read])
                let back = try r.read(count: model.count + chunk)
                try r.close()
                try check(back == model, "step \(step): cold read of \(name) gave \(back.count) bytes, the model \(model.count), equal prefix \(zip(back, model).prefix { $0 == $1 }.count)")
                models[name] = model
                continue
            default:       // a random read through the open handle
                let at = Int.random(in: 0...model.count, using: &rng)
                let count = Int.random(in: 1...(2 * chunk), using: &rng)
                try v.seek(Int64(at))
                let got = try v.read(count: count)
                try check(got == Array(model[at..<min(model.count, at + count)]), "step \(step): read of \(count) at \(at) of \(name) differs")
            }
            try check(v.size == UInt64(model.count), "step \(step): \(name) has \(v.size) bytes, the model \(model.count)")
            try v.close()
            models[name] = model
        }
        try store.flush(timeout: 120)
        try check(store.close(timeout: 120), "uploads did not finish")
        figures.volumes = models.count
        return models
    }
}

extension StoreAPI {
    /// A small number per API, the same in every run (hashValue is not).
    var hashValueStable: Int { StoreAPI.allCases.firstIndex(of: self)! }
}
