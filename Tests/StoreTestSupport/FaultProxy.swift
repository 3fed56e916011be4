// Tests/tools/faultproxy.py as a child process: a fault-injecting proxy in front of a real server.
import Foundation
import Platform
import ObjectStore

public final class FaultProxy: @unchecked Sendable {
    public let port: Int
    public let scheme: String
    private let pid: pid_t
    private let portFile: String
    private let lock = NSLock()
    private var stopped = false

    public static var script: String {
        ProcessInfo.processInfo.environment["FAULTPROXY"]
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("tools/faultproxy.py").path
    }

    /// Starts the proxy in front of `upstream` with `rules` (a JSON list) and waits until it listens.
    /// `tls`: certificate and key files; the proxy then listens for HTTPS.
    /// `port`: 0 for any free one; a given port lets a test stop the proxy and start another in its
    /// place (the store away, then back).
    public init(upstream: String, rules: String = "[]", random: String? = nil, seed: Int = 1,
                tls: (certificate: String, key: String)? = nil, port listenPort: Int = 0) throws {
        portFile = NSTemporaryDirectory() + "/faultproxy-\(UUID().uuidString).port"
        var args = [FaultProxy.script, "--upstream", upstream, "--listen", "127.0.0.1:\(listenPort)",
                    "--port-file", portFile, "--rules", rules, "--seed", String(seed)]
        if let random { args += ["--random", random] }
        if let tls { args += ["--tls-cert", tls.certificate, "--tls-key", tls.key] }
        self.scheme = tls == nil ? "http" : "https"
        // posix_spawn and waitpid, not Foundation's Process: its waitUntilExit can hang on a
        // concurrency thread with no run loop.
        pid = try ChildProcess.spawn("python3", args, environment: [:], stderr: portFile + ".log")
        let deadline = Date().addingTimeInterval(15)
        var found: Int? = nil
        while Date() < deadline {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8),
               let p = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) { found = p; break }
            if waitpid(pid, nil, WNOHANG) == pid { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        guard let found else {
            kill(pid, SIGKILL)
            let log = (try? String(contentsOfFile: portFile + ".log", encoding: .utf8)) ?? ""
            throw CheckFailure("the fault proxy did not start (python3 \(FaultProxy.script)): \(log)")
        }
        port = found
    }

    deinit { stop() }

    public func stop() {
        let first = lock.withLock { () -> Bool in defer { stopped = true }; return !stopped }
        guard first else { return }
        kill(pid, SIGTERM)
        // A proxy that does not stop within 5 s is killed: a test must never hang on its helper.
        for _ in 0..<100 where waitpid(pid, nil, WNOHANG) == 0 { usleep(50_000) }
        kill(pid, SIGKILL)
        _ = waitpid(pid, nil, 0)
        unlink(portFile + ".log")
    }

    private func control(_ method: String, _ path: String, body: String? = nil) throws -> [UInt8] {
        var settings = HTTPSettings()
        settings.verifyTLS = false   // the test's own proxy, on loopback
        let r = try HTTPClient(settings: settings).perform(HTTPRequest(method: method, url: "\(scheme)://127.0.0.1:\(port)/__faultproxy/\(path)",
                                                     body: body.map { .bytes(Array($0.utf8)) } ?? .empty))
        guard r.isSuccess else { throw CheckFailure("fault proxy \(method) \(path): HTTP \(r.status)") }
        return r.body
    }

    public func setRules(_ json: String) throws { _ = try control("POST", "rules", body: json) }

    public struct Entry: Decodable, Sendable {
        public let seq: Int
        public let method: String
        public let path: String
        public let status: Int?
        public let injected: String?
        public let bytes_in: Int?
        public let bytes_out: Int?
    }

    /// The kind of request a log entry is, as the request ledger counts them.
    public static func kind(_ e: Entry, api: StoreAPI) -> RequestKind {
        if !api.isS3 && e.path.contains("/auth") { return .AUTH }
        switch e.method {
        case "GET": return e.path.contains("list-type=2") || e.path.contains("format=json") ? .LIST : .GET
        default: return RequestKind(rawValue: e.method) ?? .GET
        }
    }

    /// The requests the proxy saw, in order.
    public func log() throws -> [Entry] { try JSONDecoder().decode([Entry].self, from: Data(control("GET", "log"))) }

    public func reset() throws { _ = try control("POST", "reset") }
}

