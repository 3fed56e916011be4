// What an S3 store needs, read from the option string and the credential sources.
import Foundation

public struct S3Configuration: Sendable {
    public enum Addressing: String, Sendable { case path, virtual }
    public var endpoint: Endpoint
    public var bucket: String
    public var region: String
    public var addressing: Addressing
    public var credentials: AWSCredentials
    /// false: x-amz-content-sha256 is UNSIGNED-PAYLOAD (no hashing; TLS or the MD5 guards the body).
    public var signPayload: Bool

    public init(endpoint: Endpoint, bucket: String, region: String, addressing: Addressing,
                credentials: AWSCredentials, signPayload: Bool = true) {
        self.endpoint = endpoint; self.bucket = bucket; self.region = region
        self.addressing = addressing; self.credentials = credentials; self.signPayload = signPayload
    }

    public init(options: Options, environment: [String: String]) throws {
        let region = options.string("region") ?? environment["AWS_REGION"].flatMap { $0.isEmpty ? nil : $0 }
            ?? environment["AWS_DEFAULT_REGION"].flatMap { $0.isEmpty ? nil : $0 } ?? "us-east-1"
        guard let bucket = options.string("bucket") else {
            throw OptionError("backend=s3 needs bucket=NAME")
        }
        guard S3Configuration.isValidBucket(bucket) else {
            throw OptionError("bucket=\(bucket) is not a valid bucket name: 3 to 63 lower-case letters, digits, dots and hyphens, "
                              + "starting and ending with a letter or digit")
        }
        let endpoint = try Endpoint(parsing: options.string("endpoint") ?? "https://s3.\(region).amazonaws.com", option: "endpoint")
        let addressing = Addressing(rawValue: try options.choice("addressing", ["path", "virtual"], default: "path"))!
        let payload = try options.choice("payload", ["signed", "unsigned"], default: "signed")
        self.init(endpoint: endpoint, bucket: bucket, region: region, addressing: addressing,
                  credentials: try CredentialSource.aws(options: options, environment: environment),
                  signPayload: payload == "signed")
    }

    static func isValidBucket(_ name: String) -> Bool {
        let chars = Array(name.utf8)
        guard (3...63).contains(chars.count) else { return false }
        func alnum(_ c: UInt8) -> Bool { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) }
        guard alnum(chars.first!), alnum(chars.last!) else { return false }
        // Swift's s3api and RGW also allow upper case and underscores in path style; AWS does not.
        return chars.allSatisfy { alnum($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-")
            || $0 == UInt8(ascii: "_") || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }
    }
}

/// scheme://host[:port][/base/path] of a service, parsed once.
public struct Endpoint: Sendable, Equatable, CustomStringConvertible {
    public var scheme: String
    public var host: String
    public var port: Int?
    /// Path under which the service lives, without a trailing slash ("" for most).
    public var basePath: String

    public init(scheme: String, host: String, port: Int?, basePath: String = "") {
        self.scheme = scheme; self.host = host; self.port = port; self.basePath = basePath
    }

    public init(parsing text: String, option: String) throws {
        guard let url = URLComponents(string: text), let scheme = url.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = url.host, !host.isEmpty else {
            throw OptionError("\(option)=\(text) is not an http:// or https:// URL such as http://127.0.0.1:7480")
        }
        var base = url.percentEncodedPath
        while base.hasSuffix("/") { base.removeLast() }
        self.init(scheme: scheme, host: host, port: url.port, basePath: base)
    }

    /// The Host header: the port only when it is not the scheme's default.
    public var hostHeader: String {
        let h = host.contains(":") ? "[\(host)]" : host
        guard let port, !(scheme == "http" && port == 80), !(scheme == "https" && port == 443) else { return h }
        return "\(h):\(port)"
    }

    public var description: String { "\(scheme)://\(hostHeader)\(basePath)" }
}
