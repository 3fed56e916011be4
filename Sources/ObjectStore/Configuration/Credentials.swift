// Where secrets come from: the places users already keep them. AWS: a credentials file named in the
// options, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, then the shared credentials
// file (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials) with AWS_PROFILE or profile=. Swift:
// the credentials file, then ST_AUTH / ST_USER / ST_KEY. No value read here is ever printed.
import Foundation

/// An INI file of `[profile]` sections with `key = value` lines, as the AWS CLI writes.
public struct CredentialsFile: Sendable {
    public let path: String
    public let sections: [String: [String: String]]

    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw OptionError("cannot read the credentials file \(path): check the path and its permissions")
        }
        try self.init(path: path, text: String(decoding: data, as: UTF8.self))
    }

    public init(path: String, text: String) throws {
        self.path = path
        var sections: [String: [String: String]] = [:]
        var current: String? = nil
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]") else {
                    throw OptionError("credentials file \(path), line \(number + 1): a section header must end with ]")
                }
                var name = String(line.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
                if name.hasPrefix("profile ") { name = String(name.dropFirst(8)).trimmingCharacters(in: .whitespaces) }
                current = name
                sections[name, default: [:]] = sections[name] ?? [:]
                continue
            }
            guard let eq = line.firstIndex(of: "=") else {
                // Never quote the line: it may hold a secret.
                throw OptionError("credentials file \(path), line \(number + 1): expected key = value")
            }
            guard let section = current else {
                throw OptionError("credentials file \(path), line \(number + 1): a key comes before any [profile] header")
            }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            sections[section]![key] = value
        }
        self.sections = sections
    }

    public func profile(_ name: String) throws -> [String: String] {
        guard let section = sections[name] else {
            let known = sections.keys.sorted().joined(separator: ", ")
            throw OptionError("profile '\(name)' is not in the credentials file \(path) (it has: \(known.isEmpty ? "none" : known))")
        }
        return section
    }
}

public struct SwiftCredentials: Sendable {
    public var authURL: String
    public var user: String
    public var key: Secret
}

public enum CredentialSource {
    /// The AWS credentials for `options`, from the first source that has them.
    public static func aws(options: Options, environment env: [String: String]) throws -> AWSCredentials {
        let profileName = options.string("profile") ?? env["AWS_PROFILE"] ?? "default"
        if let path = options.string("credentials") {
            return try awsFromProfile(try CredentialsFile(path: expandHome(path, env)).profile(profileName), path: path)
        }
        // An explicit profile= wins over the environment's keys, as with the AWS CLI's --profile.
        if options.string("profile") == nil, let id = env["AWS_ACCESS_KEY_ID"], !id.isEmpty {
            guard let secret = env["AWS_SECRET_ACCESS_KEY"], !secret.isEmpty else {
                throw OptionError("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not: set both")
            }
            let token = env["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : Secret($0) }
            return AWSCredentials(accessKeyID: id, secretAccessKey: Secret(secret), sessionToken: token)
        }
        let shared = env["AWS_SHARED_CREDENTIALS_FILE"].flatMap { $0.isEmpty ? nil : $0 }
            ?? expandHome("~/.aws/credentials", env)
        guard FileManager.default.fileExists(atPath: shared) else {
            throw OptionError("no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or write them "
                              + "to \(shared), or name a file with credentials=")
        }
        return try awsFromProfile(try CredentialsFile(path: shared).profile(profileName), path: shared)
    }

    private static func awsFromProfile(_ p: [String: String], path: String) throws -> AWSCredentials {
        guard let id = p["aws_access_key_id"], !id.isEmpty, let secret = p["aws_secret_access_key"], !secret.isEmpty else {
            throw OptionError("the profile in \(path) needs both aws_access_key_id and aws_secret_access_key")
        }
        let token = p["aws_session_token"].flatMap { $0.isEmpty ? nil : Secret($0) }
        return AWSCredentials(accessKeyID: id, secretAccessKey: Secret(secret), sessionToken: token)
    }

    /// TempAuth credentials: auth URL from endpoint= or the file or ST_AUTH, user and key from the file or ST_USER / ST_KEY.
    public static func swift(options: Options, environment env: [String: String]) throws -> SwiftCredentials {
        var profile: [String: String] = [:]
        if let path = options.string("credentials") {
            profile = try CredentialsFile(path: expandHome(path, env))
                .profile(options.string("profile") ?? env["AWS_PROFILE"] ?? "default")
        }
        func pick(_ key: String) -> String? {
            if let v = profile[key.lowercased()], !v.isEmpty { return v }
            if let v = env[key], !v.isEmpty { return v }
            return nil
        }
        guard let auth = options.string("endpoint") ?? pick("ST_AUTH") else {
            throw OptionError("no Swift auth URL: give endpoint= (such as http://127.0.0.1:8080/auth/v1.0) or set ST_AUTH")
        }
        guard let user = pick("ST_USER") else {
            throw OptionError("no Swift user: set ST_USER (account:user) or st_user in the credentials file")
        }
        guard let key = pick("ST_KEY") else {
            throw OptionError("no Swift key: set ST_KEY or st_key in the credentials file")
        }
        return SwiftCredentials(authURL: auth, user: user, key: Secret(key))
    }

    static func expandHome(_ path: String, _ env: [String: String]) -> String {
        guard path.hasPrefix("~/") else { return path }
        return (env["HOME"] ?? NSHomeDirectory()) + path.dropFirst()
    }
}
