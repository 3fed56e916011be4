// The real servers the integration tests use, found through Tests/servers/servers.env (written by
// Tests/servers/start-all.sh) or the same names in the environment (SAIO_*, RGW_*, KEYSTONE_*).
// Under CI=true a server that cannot be found fails the test; elsewhere the test is skipped with a
// message saying how to start it.
import Foundation
import ObjectStore

public enum StoreAPI: String, CaseIterable, Sendable, CustomStringConvertible {
    case saioS3 = "SAIO S3", saioSwift = "SAIO Swift", rgwS3 = "RGW S3", rgwSwift = "RGW Swift"
    public var description: String { rawValue }
    public var isS3: Bool { self == .saioS3 || self == .rgwS3 }
    var prefix: String { self == .saioS3 || self == .saioSwift ? "SAIO" : "RGW" }
}

public struct ServerEndpoint: Sendable {
    public let api: StoreAPI
    /// Base URL of the server (scheme://host:port).
    public let baseURL: String
    /// The option string's store part, without bucket/container.
    public let options: String
    /// The credential environment the store reads (AWS_* or ST_*).
    public let environment: [String: String]

    public init(api: StoreAPI, baseURL: String, options: String, environment: [String: String]) {
        self.api = api; self.baseURL = baseURL; self.options = options; self.environment = environment
    }

    /// A store stack on a container of this name, created if missing.
    public func open(container: String, extraOptions: String = "", environment override: [String: String] = [:],
                     ledger: RequestLedger = RequestLedger(), create: Bool = true) throws -> StoreStack {
        let text = options + (api.isS3 ? ",bucket=" : ",container=") + container + (extraOptions.isEmpty ? "" : "," + extraOptions)
        let stack = try StoreStack.open(options: Options(parsing: text),
                                        environment: environment.merging(override) { _, b in b }, ledger: ledger)
        if create { try stack.unretried.createContainer() }
        return stack
    }

    /// Options and environment for the same API reached through a proxy listening on `port`.
    public func through(proxyPort port: Int) -> ServerEndpoint {
        let proxy = "http://127.0.0.1:\(port)"
        return ServerEndpoint(api: api, baseURL: proxy, options: options.replacingOccurrences(of: baseURL, with: proxy),
                              environment: environment)
    }
}

public enum TestServers {
    public static var isCI: Bool { ProcessInfo.processInfo.environment["CI"].map { !$0.isEmpty && $0 != "false" && $0 != "0" } ?? false }

    /// Tests/servers/servers.env, overlaid by the process environment.
    public static let settings: [String: String] = {
        var values: [String: String] = [:]
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("servers/servers.env").path
        if let text = try? String(contentsOfFile: file, encoding: .utf8) {
            for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                guard let eq = line.firstIndex(of: "=") else { continue }
                values[String(line[..<eq])] = String(line[line.index(after: eq)...])
            }
        }
        for (k, v) in ProcessInfo.processInfo.environment where k.hasPrefix("SAIO_") || k.hasPrefix("RGW_") || k.hasPrefix("KEYSTONE_") {
            values[k] = v
        }
        return values
    }()

    public static func endpoint(_ api: StoreAPI) -> ServerEndpoint? {
        let p = api.prefix
        if api.isS3 {
            guard let url = settings["\(p)_S3_ENDPOINT"], let key = settings["\(p)_S3_ACCESS_KEY"],
                  let secret = settings["\(p)_S3_SECRET_KEY"] else { return nil }
            return ServerEndpoint(api: api, baseURL: url,
                                  options: "backend=s3,endpoint=\(url),region=\(settings["\(p)_S3_REGION"] ?? "us-east-1")",
                                  environment: ["AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret])
        }
        guard let auth = settings["\(p)_SWIFT_AUTH"], let user = settings["\(p)_SWIFT_USER"],
              let key = settings["\(p)_SWIFT_KEY"], let comps = URLComponents(string: auth),
              let host = comps.host, let port = comps.port else { return nil }
        let base = "http://\(host):\(port)"
        return ServerEndpoint(api: api, baseURL: base, options: "backend=swift,endpoint=\(auth)",
                              environment: ["ST_USER": user, "ST_KEY": key])
    }

    /// Whether a server answers for `api` (a TCP connect to its port).
    public static func isUp(_ api: StoreAPI) -> Bool {
        guard let e = endpoint(api), let c = URLComponents(string: e.baseURL), let port = c.port else { return false }
        return canConnect(port: port)
    }

    public static func canConnect(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    /// The endpoint, or nil with a printed SKIP line when the server is absent outside CI.
    /// Under CI an absent server throws: integration tests must not pass by skipping there.
    public static func require(_ api: StoreAPI) throws -> ServerEndpoint? {
        if let e = endpoint(api), isUp(api) { return e }
        let how = "start the servers with `bash Tests/servers/start-all.sh` (or run `bash Tests/run-all.sh`)"
        if isCI { throw CheckFailure("\(api) server is not running under CI=true: \(how)") }
        print("SKIP: \(api) server not running; \(how)")
        return nil
    }

    /// A fresh, valid bucket/container name.
    public static func containerName(_ tag: String) -> String {
        "cvt-\(tag)-\(UUID().uuidString.prefix(8).lowercased())"
    }
}
