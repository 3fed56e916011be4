// The option string shared by the C API, the Swift API and `chunkctl -o`, in the storage daemon's
// style: `backend=s3,endpoint=http://127.0.0.1:7480,bucket=backups,chunksize=64M`. Every key is
// listed here with its meaning (Spec/options.md is written from the same list); anything else is an
// error naming the key and the known ones.

public struct OptionError: Error, CustomStringConvertible, Sendable {
    public var sentence: String
    public init(_ sentence: String) { self.sentence = sentence }
    public var description: String { sentence }
}

public struct OptionKey: Sendable {
    public var name: String
    public var help: String
}

/// A parsed option string: known keys only, each at most once.
public struct Options: Sendable, CustomStringConvertible {
    public private(set) var values: [String: String] = [:]
    /// Keys in the order given, for messages.
    public private(set) var order: [String] = []

    public static let keys: [OptionKey] = [
        // The store.
        .init(name: "backend", help: "s3, swift or local (default local when path= is given, else s3)"),
        .init(name: "endpoint", help: "S3: the service URL (default https://s3.REGION.amazonaws.com); Swift: the auth URL, TempAuth's (default ST_AUTH) or Keystone's (default OS_AUTH_URL)"),
        .init(name: "bucket", help: "S3 bucket"),
        .init(name: "container", help: "Swift container"),
        .init(name: "path", help: "local backend: the folder that holds the objects"),
        .init(name: "prefix", help: "prepended to every key the volumes use, e.g. backups/ (default none)"),
        .init(name: "region", help: "S3 signing region (default AWS_REGION, AWS_DEFAULT_REGION, else us-east-1); Swift with Keystone: the catalog's region (default OS_REGION_NAME)"),
        .init(name: "addressing", help: "S3 bucket addressing: path (default) or virtual"),
        .init(name: "payload", help: "S3 body signing: signed (default; SHA-256 in x-amz-content-sha256) or unsigned"),
        .init(name: "auth", help: "Swift authentication: tempauth or keystone (default: chosen from endpoint= and the ST_* or OS_* variables set)"),
        .init(name: "interface", help: "Swift with Keystone: the catalog interface, public, internal or admin (default OS_INTERFACE, else public)"),
        .init(name: "storage_url", help: "Swift with Keystone: the account URL to use instead of the catalog's (default OS_STORAGE_URL)"),
        .init(name: "tls_ca", help: "PEM file of certificate authorities to trust for https endpoints"),
        .init(name: "tls_verify", help: "yes (default) or no; no turns certificate checks off and warns on every use"),
        .init(name: "credentials", help: "credentials file (INI: [profile] with aws_access_key_id, aws_secret_access_key, aws_session_token, st_user, st_key, st_auth)"),
        .init(name: "profile", help: "profile in the credentials file (default AWS_PROFILE, else default)"),
        .init(name: "retries", help: "attempts after the first for a failed request (default 10)"),
        .init(name: "retry_time", help: "seconds after which no further retry starts (default 300)"),
        .init(name: "connect_timeout", help: "seconds to connect (default 10)"),
        .init(name: "io_timeout", help: "seconds a transfer may stall before it is abandoned and retried (default 60)"),
        // The volumes and their cache (used by the volume layer).
        .init(name: "chunksize", help: "chunk size of new volumes, 4K to 5G (default 64M)"),
        .init(name: "cache", help: "cache folder (default ~/.cache/chunkvol)"),
        .init(name: "cachesize", help: "cache size limit (default 20G)"),
        .init(name: "uploads", help: "concurrent transfers (default 8)"),
        .init(name: "upload", help: "upload policy: each-chunk (default), on-close or manual"),
        .init(name: "readahead", help: "most chunks read ahead on sequential reads (default 4)"),
        .init(name: "space_timeout", help: "seconds a writer waits for uploads to free a full cache before it fails (default 600)"),
    ]

    public init() {}

    /// Parses `key=value,key=value`. Spaces around keys and values are ignored; empty items too.
    public init(parsing text: String) throws {
        let known = Set(Options.keys.map(\.name))
        for item in text.split(separator: ",", omittingEmptySubsequences: true) {
            let trimmed = item.trimmingSpaces
            if trimmed.isEmpty { continue }
            guard let eq = trimmed.firstIndex(of: "=") else {
                throw OptionError("option '\(trimmed)' has no value: write it as \(trimmed)=VALUE")
            }
            let key = trimmed[..<eq].trimmingSpaces.lowercased()
            let value = trimmed[trimmed.index(after: eq)...].trimmingSpaces
            guard known.contains(key) else {
                throw OptionError("unknown option '\(key)'" + Options.suggestion(for: key)
                                  + "; known options: " + Options.keys.map(\.name).joined(separator: ", "))
            }
            guard values[key] == nil else { throw OptionError("option '\(key)' is given twice") }
            values[key] = value
            order.append(key)
        }
    }

    public subscript(_ key: String) -> String? {
        get { values[key] }
        set {
            precondition(Options.keys.contains { $0.name == key }, "unknown option key \(key)")
            if values[key] == nil, newValue != nil { order.append(key) }
            if newValue == nil { order.removeAll { $0 == key } }
            values[key] = newValue
        }
    }

    /// The options back as a string, in the order given (no secrets are ever options).
    public var description: String { order.map { "\($0)=\(values[$0]!)" }.joined(separator: ",") }

    public func string(_ key: String) -> String? {
        guard let v = values[key], !v.isEmpty else { return nil }
        return v
    }

    public func choice(_ key: String, _ allowed: [String], default value: String) throws -> String {
        guard let v = string(key)?.lowercased() else { return value }
        guard allowed.contains(v) else {
            throw OptionError("option \(key)=\(v) is not one of: " + allowed.joined(separator: ", "))
        }
        return v
    }

    public func integer(_ key: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let v = string(key) else { return value }
        guard let n = Int(v), range.contains(n) else {
            throw OptionError("option \(key)=\(v) must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return n
    }

    public func seconds(_ key: String, default value: Double, range: ClosedRange<Double>) throws -> Double {
        guard let v = string(key) else { return value }
        guard let n = Double(v), n.isFinite, range.contains(n) else {
            throw OptionError("option \(key)=\(v) must be a number of seconds from \(range.lowerBound) to \(range.upperBound)")
        }
        return n
    }

    public func bool(_ key: String, default value: Bool) throws -> Bool {
        guard let v = string(key)?.lowercased() else { return value }
        switch v {
        case "yes", "true", "on", "1": return true
        case "no", "false", "off", "0": return false
        default: throw OptionError("option \(key)=\(v) must be yes or no")
        }
    }

    /// Sizes take K, M, G, T suffixes (powers of 1024), with an optional "B" or "iB": 64M, 5G, 4096.
    public func size(_ key: String, default value: UInt64, range: ClosedRange<UInt64>) throws -> UInt64 {
        guard let v = string(key) else { return value }
        guard let n = Options.parseSize(v), range.contains(n) else {
            throw OptionError("option \(key)=\(v) must be a size from \(Options.formatSize(range.lowerBound)) to "
                              + "\(Options.formatSize(range.upperBound)), such as 64M")
        }
        return n
    }

    public static func parseSize(_ text: String) -> UInt64? {
        var s = text.trimmingSpaces.uppercased()
        for suffix in ["IB", "B"] where s.hasSuffix(suffix) && s.count > suffix.count { s.removeLast(suffix.count); break }
        let multipliers: [Character: UInt64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
        var multiplier: UInt64 = 1
        if let last = s.last, let m = multipliers[last] { multiplier = m; s.removeLast() }
        guard let n = UInt64(s) else { return nil }
        let (product, overflow) = n.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : product
    }

    public static func formatSize(_ n: UInt64) -> String {
        for (suffix, shift) in [("T", 40), ("G", 30), ("M", 20), ("K", 10)] where n >= (1 << shift) && n % (1 << shift) == 0 {
            return "\(n >> shift)\(suffix)"
        }
        return String(n)
    }

    private static func suggestion(for key: String) -> String {
        let close = keys.map(\.name).filter { editDistance($0, key) <= 2 }
        return close.isEmpty ? "" : " (did you mean \(close.joined(separator: " or "))?)"
    }

    private static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var previous = row[0]; row[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let current = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = current
            }
        }
        return row[b.count]
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}
