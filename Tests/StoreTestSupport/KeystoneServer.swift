// The Keystone v3 the Swift all-in-one runs beside Swift (Tests/servers/start-all.sh, KEYSTONE_*
// in servers.env), and the few calls of its own API the tests make: a token for the test user,
// application credentials, token revocation.
import Foundation
import ObjectStore
import Platform

public struct KeystoneServer: Sendable {
    /// The identity v3 URL, such as http://127.0.0.1:5000/v3.
    public let authURL: String
    /// Swift's base URL, where the catalog's object-store endpoint must point.
    public let swiftURL: String
    public let username: String
    public let password: String
    public let projectName: String
    public let domain: String
    /// Seconds Swift keeps trusting a token it validated (authtoken's token_cache_time).
    public let tokenCacheTime: Double

    /// The OS_* variables of the password method, as an openrc file would set them.
    public var passwordEnvironment: [String: String] {
        ["OS_AUTH_URL": authURL, "OS_USERNAME": username, "OS_PASSWORD": password, "OS_PROJECT_NAME": projectName,
         "OS_USER_DOMAIN_NAME": domain, "OS_PROJECT_DOMAIN_NAME": domain]
    }

    public struct Token: Sendable {
        public let token: String
        public let userID: String
        public let projectID: String?
        /// Keystone's times, as it wrote them.
        public let issuedAt: String?
        public let expiresAt: String?
    }

    /// A project-scoped token for the test user, straight from Keystone.
    public func issueToken() throws -> Token {
        let body: [String: Any] = ["auth": [
            "identity": ["methods": ["password"], "password": ["user": ["name": username, "domain": ["name": domain], "password": password]]],
            "scope": ["project": ["name": projectName, "domain": ["name": domain]]]]]
        let r = try HTTPClient().perform(HTTPRequest(method: "POST", url: authURL + "/auth/tokens",
                                                     headers: [("Content-Type", "application/json")],
                                                     body: .bytes(Array(try JSONSerialization.data(withJSONObject: body)))))
        guard r.status == 201, let token = r.header("x-subject-token"),
              let json = try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any],
              let t = json["token"] as? [String: Any], let user = t["user"] as? [String: Any], let userID = user["id"] as? String else {
            throw CheckFailure("Keystone token for \(username): HTTP \(r.status) \(String(decoding: r.body.prefix(300), as: UTF8.self))")
        }
        return Token(token: token, userID: userID, projectID: (t["project"] as? [String: Any])?["id"] as? String,
                     issuedAt: t["issued_at"] as? String, expiresAt: t["expires_at"] as? String)
    }

    /// Creates an application credential of the test user (POST /v3/users/{id}/application_credentials).
    public func createApplicationCredential(name: String) throws -> (id: String, secret: String) {
        let t = try issueToken()
        let body = ["application_credential": ["name": name, "description": "chunkvol test"]]
        let r = try HTTPClient().perform(HTTPRequest(method: "POST", url: "\(authURL)/users/\(t.userID)/application_credentials",
                                                     headers: [("Content-Type", "application/json"), ("X-Auth-Token", t.token)],
                                                     body: .bytes(Array(try JSONSerialization.data(withJSONObject: body)))))
        guard r.status == 201, let json = try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any],
              let c = json["application_credential"] as? [String: Any], let id = c["id"] as? String, let secret = c["secret"] as? String else {
            throw CheckFailure("creating application credential \(name): HTTP \(r.status) \(String(decoding: r.body.prefix(300), as: UTF8.self))")
        }
        return (id, secret)
    }

    public func deleteApplicationCredential(id: String) throws {
        let t = try issueToken()
        _ = try HTTPClient().perform(HTTPRequest(method: "DELETE", url: "\(authURL)/users/\(t.userID)/application_credentials/\(id)",
                                                 headers: [("X-Auth-Token", t.token)]))
    }

    /// Revokes `token` (DELETE /v3/auth/tokens; a user may revoke its own). Returns the status.
    public func revoke(_ token: String) throws -> Int {
        try HTTPClient().perform(HTTPRequest(method: "DELETE", url: authURL + "/auth/tokens",
                                             headers: [("X-Auth-Token", token), ("X-Subject-Token", token)])).status
    }
}

extension TestServers {
    public static func keystone() -> KeystoneServer? {
        guard let auth = settings["KEYSTONE_AUTH_URL"], let swift = settings["KEYSTONE_SWIFT_URL"],
              let user = settings["KEYSTONE_USERNAME"], let password = settings["KEYSTONE_PASSWORD"],
              let project = settings["KEYSTONE_PROJECT_NAME"] else { return nil }
        return KeystoneServer(authURL: auth, swiftURL: swift, username: user, password: password, projectName: project,
                              domain: settings["KEYSTONE_USER_DOMAIN_NAME"] ?? "Default",
                              tokenCacheTime: settings["KEYSTONE_TOKEN_CACHE_TIME"].flatMap(Double.init) ?? 300)
    }

    /// The Keystone server, or nil with a printed SKIP line when it is absent outside CI; under CI
    /// an absent Keystone throws, as for the other servers.
    public static func requireKeystone() throws -> KeystoneServer? {
        if let k = keystone(), let a = URLComponents(string: k.authURL)?.port, let s = URLComponents(string: k.swiftURL)?.port,
           canConnect(port: a), canConnect(port: s) { return k }
        let how = "start Swift with Keystone with `bash Tests/servers/start-all.sh` (or run `bash Tests/run-all.sh`)"
        if isCI { throw CheckFailure("Keystone server is not running under CI=true: \(how)") }
        print("SKIP: Keystone server not running; \(how)")
        return nil
    }
}
