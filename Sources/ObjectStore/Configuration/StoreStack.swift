// Builds the store an option string describes: the backend, wrapped by Counting (every request
// counted in the ledger) and Retrying (transient failures repeated with backoff).
import Foundation
import Platform

public struct StoreStack: Sendable {
    /// The store to use: Retrying(Counting(backend)).
    public let store: any ObjectStore
    /// The bare backend, for what only it offers (S3 presigned URLs, the clock correction).
    public let backend: any ObjectStore
    /// Counting(backend) without retries: for questions that want one quick answer (`store check`).
    public let unretried: any ObjectStore
    public let ledger: RequestLedger
    public let options: Options
    /// Things the user must hear on every use (verification turned off, say).
    public let warnings: [String]

    public static func open(options: Options, environment: [String: String] = ProcessInfo.processInfo.environment,
                            ledger: RequestLedger = RequestLedger()) throws -> StoreStack {
        var warnings: [String] = []
        var http = HTTPSettings()
        http.connectTimeout = try options.seconds("connect_timeout", default: 10, range: 0.1...600)
        http.stallTimeout = Int(try options.seconds("io_timeout", default: 60, range: 1...3600).rounded(.up))
        http.verifyTLS = try options.bool("tls_verify", default: true)
        if !http.verifyTLS {
            warnings.append("warning: tls_verify=no: the store's certificate is NOT checked; anyone on the path can read and change the data")
        }
        if let ca = options.string("tls_ca") {
            guard FileManager.default.isReadableFile(atPath: ca) else {
                throw OptionError("tls_ca=\(ca): no readable file there; give the PEM file of the certificate authority")
            }
            http.caFile = ca
        }
        let policy = RetryPolicy(retries: try options.integer("retries", default: 10, range: 0...100),
                                 deadline: try options.seconds("retry_time", default: 300, range: 0...86_400))

        let backendName = try options.choice("backend", ["s3", "swift", "local"], default: StoreStack.defaultBackend(options))
        let backend: any ObjectStore
        switch backendName {
        case "s3":
            let config = try S3Configuration(options: options, environment: environment)
            backend = S3Store(configuration: config, http: HTTPClient(settings: http), ledger: ledger)
        case "swift":
            guard let container = options.string("container") ?? options.string("bucket") else {
                throw OptionError("backend=swift needs container=NAME")
            }
            let auth: any SwiftAuthenticator
            switch try SwiftAuthMethod.choose(options: options, environment: environment) {
            case .tempauth:
                let c = try CredentialSource.swift(options: options, environment: environment)
                auth = TempAuth(authURL: c.authURL, user: c.user, key: c.key)
            case .keystone:
                auth = try CredentialSource.keystone(options: options, environment: environment)
            }
            backend = SwiftStore(container: container, auth: auth, http: HTTPClient(settings: http), ledger: ledger)
        default:
            backend = LocalStore(root: options.string("path") ?? StoreStack.defaultLocalPath(environment))
        }
        let counted = CountingStore(backend, ledger: ledger)
        let store = RetryingStore(counted, policy: policy, ledger: ledger)
        return StoreStack(store: store, backend: backend, unretried: counted, ledger: ledger, options: options, warnings: warnings)
    }

    static func defaultBackend(_ options: Options) -> String {
        if options.string("path") != nil { return "local" }
        if options.string("container") != nil { return "swift" }
        if options.string("bucket") != nil || options.string("endpoint") != nil { return "s3" }
        return "local"
    }

    /// The embedded default: a folder in the user's data directory.
    static func defaultLocalPath(_ env: [String: String]) -> String {
        if let xdg = env["XDG_DATA_HOME"], !xdg.isEmpty { return xdg + "/chunkvol/store" }
        return (env["HOME"] ?? NSHomeDirectory()) + "/.local/share/chunkvol/store"
    }
}
