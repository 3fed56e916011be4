// Swift's two ways in, chosen and configured from what the user already has: TempAuth from ST_*,
// Keystone v3 from the OS_* variables python-swiftclient and openstackclient read (or the same
// names in lower case in the credentials file). No value read here is ever printed.
import Foundation

public enum SwiftAuthMethod: String, Sendable {
    case tempauth, keystone

    /// `auth=` when given; else an `endpoint=` ending in /v3 means Keystone and one ending in
    /// /auth/v1.0 or /auth/1.0 TempAuth; else ST_AUTH or ST_USER mean TempAuth (python-swiftclient
    /// prefers them too); else any of OS_AUTH_URL, OS_USERNAME, OS_USER_ID or an application
    /// credential means Keystone; else TempAuth, whose errors name what to set.
    public static func choose(options: Options, environment env: [String: String]) throws -> SwiftAuthMethod {
        if options.string("auth") != nil {
            return SwiftAuthMethod(rawValue: try options.choice("auth", ["tempauth", "keystone"], default: "tempauth"))!
        }
        if let endpoint = options.string("endpoint") {
            var path = endpoint
            while path.hasSuffix("/") { path.removeLast() }
            if path.hasSuffix("/v3") { return .keystone }
            if path.hasSuffix("/auth/v1.0") || path.hasSuffix("/auth/1.0") { return .tempauth }
        }
        let source = try SwiftCredentialValues(options: options, environment: env)
        if source["ST_AUTH"] != nil || source["ST_USER"] != nil { return .tempauth }
        let keystoneNames = ["OS_AUTH_URL", "OS_USERNAME", "OS_USER_ID", "OS_APPLICATION_CREDENTIAL_ID", "OS_APPLICATION_CREDENTIAL_NAME"]
        if keystoneNames.contains(where: { source[$0] != nil }) { return .keystone }
        return .tempauth
    }
}

/// A Swift credential setting by its environment name: the credentials file's profile (the name
/// in lower case) first, then the environment, as for TempAuth.
struct SwiftCredentialValues {
    let profile: [String: String]
    let env: [String: String]

    init(options: Options, environment: [String: String]) throws {
        env = environment
        if let path = options.string("credentials") {
            profile = try CredentialsFile(path: CredentialSource.expandHome(path, environment))
                .profile(options.string("profile") ?? environment["AWS_PROFILE"] ?? "default")
        } else {
            profile = [:]
        }
    }

    subscript(_ name: String) -> String? {
        if let v = profile[name.lowercased()], !v.isEmpty { return v }
        if let v = env[name], !v.isEmpty { return v }
        return nil
    }
}

extension CredentialSource {
    /// Keystone v3 settings: the auth URL from endpoint= or OS_AUTH_URL; an application credential
    /// when OS_APPLICATION_CREDENTIAL_ID or _NAME is set, else the password method with a project;
    /// interface=, region= and storage_url= before OS_INTERFACE, OS_REGION_NAME and OS_STORAGE_URL.
    public static func keystone(options: Options, environment env: [String: String]) throws -> KeystoneAuth {
        let v = try SwiftCredentialValues(options: options, environment: env)
        guard let authURL = options.string("endpoint") ?? v["OS_AUTH_URL"] else {
            throw OptionError("no Keystone auth URL: set OS_AUTH_URL or give endpoint= (such as http://keystone:5000/v3)")
        }
        if authURL.hasSuffix("/v2.0") || authURL.hasSuffix("/v2.0/") {
            throw OptionError("Keystone v2.0 (\(authURL)) is not supported: give the v3 URL in OS_AUTH_URL or endpoint=")
        }
        let identity: KeystoneAuth.Identity
        var project: KeystoneAuth.Reference? = nil
        // OS_AUTH_TYPE picks the method when set; else an application credential's variables do.
        let useApplicationCredential: Bool
        switch v["OS_AUTH_TYPE"]?.lowercased() {
        case nil: useApplicationCredential = v["OS_APPLICATION_CREDENTIAL_ID"] != nil || v["OS_APPLICATION_CREDENTIAL_NAME"] != nil
        case "password", "v3password": useApplicationCredential = false
        case "v3applicationcredential", "applicationcredential":
            guard v["OS_APPLICATION_CREDENTIAL_ID"] != nil || v["OS_APPLICATION_CREDENTIAL_NAME"] != nil else {
                throw OptionError("OS_AUTH_TYPE=v3applicationcredential needs OS_APPLICATION_CREDENTIAL_ID (or _NAME) and _SECRET")
            }
            useApplicationCredential = true
        case let other?:
            throw OptionError("OS_AUTH_TYPE=\(other) is not supported: use password or v3applicationcredential")
        }
        if useApplicationCredential {
            guard let secret = v["OS_APPLICATION_CREDENTIAL_SECRET"] else {
                throw OptionError("an application credential needs its secret: set OS_APPLICATION_CREDENTIAL_SECRET")
            }
            let id = v["OS_APPLICATION_CREDENTIAL_ID"]
            var user: KeystoneAuth.Reference? = nil
            if id == nil {
                user = try reference(v, what: "user", idName: "OS_USER_ID", nameName: "OS_USERNAME",
                                     domainID: "OS_USER_DOMAIN_ID", domainName: "OS_USER_DOMAIN_NAME",
                                     missing: "an application credential given by name (OS_APPLICATION_CREDENTIAL_NAME) needs its user: "
                                        + "set OS_USERNAME (with OS_USER_DOMAIN_NAME) or OS_USER_ID, or give OS_APPLICATION_CREDENTIAL_ID instead")
            }
            identity = .applicationCredential(id: id, name: v["OS_APPLICATION_CREDENTIAL_NAME"], user: user, secret: Secret(secret))
        } else {
            let user = try reference(v, what: "user", idName: "OS_USER_ID", nameName: "OS_USERNAME",
                                     domainID: "OS_USER_DOMAIN_ID", domainName: "OS_USER_DOMAIN_NAME",
                                     missing: "no Keystone user: set OS_USERNAME (with OS_USER_DOMAIN_NAME) or OS_USER_ID, "
                                        + "or an application credential (OS_APPLICATION_CREDENTIAL_ID and _SECRET)")
            guard let password = v["OS_PASSWORD"] else {
                throw OptionError("no Keystone password: set OS_PASSWORD")
            }
            identity = .password(user: user, password: Secret(password))
            project = try reference(v, what: "project", idName: v["OS_PROJECT_ID"] != nil ? "OS_PROJECT_ID" : "OS_TENANT_ID",
                                    nameName: v["OS_PROJECT_NAME"] != nil ? "OS_PROJECT_NAME" : "OS_TENANT_NAME",
                                    domainID: "OS_PROJECT_DOMAIN_ID", domainName: "OS_PROJECT_DOMAIN_NAME",
                                    missing: "no Keystone project: set OS_PROJECT_NAME (with OS_PROJECT_DOMAIN_NAME) or OS_PROJECT_ID")
        }
        // openstackclient also accepts "publicURL" and the like, from Keystone v2 catalogs.
        var interface = (options.string("interface") ?? v["OS_INTERFACE"] ?? "public").lowercased()
        if interface.hasSuffix("url") { interface.removeLast(3) }
        guard ["public", "internal", "admin"].contains(interface) else {
            throw OptionError("interface \(interface) (interface= or OS_INTERFACE) is not one of: public, internal, admin")
        }
        return KeystoneAuth(authURL: authURL, identity: identity, project: project, interface: interface,
                            region: options.string("region") ?? v["OS_REGION_NAME"],
                            storageURL: options.string("storage_url") ?? v["OS_STORAGE_URL"])
    }

    /// A user or project by id, or by name with its domain (by id or name).
    private static func reference(_ v: SwiftCredentialValues, what: String, idName: String, nameName: String,
                                  domainID: String, domainName: String, missing: String) throws -> KeystoneAuth.Reference {
        if let id = v[idName] { return .id(id) }
        guard let name = v[nameName] else { throw OptionError(missing) }
        if let d = v[domainID] { return .name(name, domain: .id(d)) }
        if let d = v[domainName] { return .name(name, domain: .name(d)) }
        throw OptionError("\(nameName) names the \(what) but not its domain: set \(domainName) (such as Default) or \(domainID)")
    }
}
