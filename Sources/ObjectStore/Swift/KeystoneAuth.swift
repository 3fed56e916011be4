// Keystone v3: POST {auth URL}/auth/tokens with the password or application-credential method;
// the token is the X-Subject-Token header, the storage URL the object-store endpoint of the
// token's catalog (or OS_STORAGE_URL). The session says when to renew: a little before the
// token's expires_at, measured from its issued_at so the two clocks need not agree.
import Foundation
import Platform

public struct KeystoneAuth: SwiftAuthenticator {
    public enum Domain: Sendable, Equatable {
        case id(String)
        case name(String)
    }

    /// A user or a project: by id, or by name within its domain.
    public enum Reference: Sendable, Equatable {
        case id(String)
        case name(String, domain: Domain)
    }

    public enum Identity: Sendable {
        case password(user: Reference, password: Secret)
        /// By id; or by name, which Keystone looks up among the user's credentials.
        case applicationCredential(id: String?, name: String?, user: Reference?, secret: Secret)
    }

    /// The identity v3 URL, ending in /v3 (such as http://127.0.0.1:5000/v3).
    public var authURL: String
    public var identity: Identity
    /// The project to scope the token to; application credentials carry their own.
    public var project: Reference?
    public var interface: String
    public var region: String?
    /// When set, used instead of the catalog's endpoint.
    public var storageURL: String?

    public init(authURL: String, identity: Identity, project: Reference?, interface: String = "public",
                region: String? = nil, storageURL: String? = nil) {
        self.authURL = KeystoneAuth.v3URL(authURL); self.identity = identity; self.project = project
        self.interface = interface; self.region = region; self.storageURL = storageURL
    }

    /// OS_AUTH_URL is written with or without the version ("http://host:5000", ".../v3/",
    /// devstack's ".../identity"); tokens live under /v3.
    public static func v3URL(_ url: String) -> String {
        var u = url
        while u.hasSuffix("/") { u.removeLast() }
        return u.hasSuffix("/v3") ? u : u + "/v3"
    }

    public var name: String {
        switch identity {
        case .password(let user, _):
            return "Keystone user \(KeystoneAuth.describe(user))" + (project.map { " project \(KeystoneAuth.describe($0))" } ?? "")
                + " at \(authURL)"
        case .applicationCredential(let id, let name, _, _):
            return "Keystone application credential \(id ?? name ?? "?") at \(authURL)"
        }
    }

    static func describe(_ r: Reference) -> String {
        switch r {
        case .id(let id): return id
        case .name(let name, .name(let domain)): return "\(name) (domain \(domain))"
        case .name(let name, .id(let domain)): return "\(name) (domain id \(domain))"
        }
    }

    public func authenticate(http: HTTPClient, ledger: RequestLedger?) throws -> SwiftSession {
        let what = "Keystone authentication of \(subject) at \(authURL)"
        let r = try post(requestBody(scoped: true), http: http, ledger: ledger, what: what)
        switch r.status {
        case 200..<300:
            return try session(from: r, what: what)
        case 401:
            throw try refusal(what: what, http: http, ledger: ledger)
        case 404:
            throw StoreError(.invalidRequest, "\(what): no Keystone v3 identity service there (404); check OS_AUTH_URL or endpoint=",
                             status: 404)
        default:
            let message = keystoneMessage(r)
            throw StoreError(StoreError.kind(forStatus: r.status), "\(what) failed with HTTP \(r.status)"
                             + (message.map { ": \($0)" } ?? ""), status: r.status)
        }
    }

    // MARK: The request

    private var subject: String {
        switch identity {
        case .password(let user, _): return "user \(KeystoneAuth.describe(user))"
        case .applicationCredential(let id, let name, _, _): return "application credential \(id ?? name ?? "?")"
        }
    }

    /// The JSON of POST /v3/auth/tokens. `scoped: false` leaves the project out (used only to tell
    /// a wrong password from a project the user cannot use).
    func requestBody(scoped: Bool) throws -> [UInt8] {
        var identityJSON: [String: Any]
        switch identity {
        case .password(let user, let password):
            var u = KeystoneAuth.json(user)
            u["password"] = password.reveal()
            identityJSON = ["methods": ["password"], "password": ["user": u]]
        case .applicationCredential(let id, let name, let user, let secret):
            var c: [String: Any] = ["secret": secret.reveal()]
            if let id { c["id"] = id } else {
                c["name"] = name ?? ""
                if let user { c["user"] = KeystoneAuth.json(user) }
            }
            identityJSON = ["methods": ["application_credential"], "application_credential": c]
        }
        var auth: [String: Any] = ["identity": identityJSON]
        if scoped, case .password = identity, let project { auth["scope"] = ["project": KeystoneAuth.json(project)] }
        return Array(try JSONSerialization.data(withJSONObject: ["auth": auth], options: [.sortedKeys]))
    }

    static func json(_ r: Reference) -> [String: Any] {
        switch r {
        case .id(let id): return ["id": id]
        case .name(let name, .name(let domain)): return ["name": name, "domain": ["name": domain]]
        case .name(let name, .id(let domain)): return ["name": name, "domain": ["id": domain]]
        }
    }

    private func post(_ body: [UInt8], http: HTTPClient, ledger: RequestLedger?, what: String) throws -> HTTPResponse {
        try sendAuthRequest(HTTPRequest(method: "POST", url: authURL + "/auth/tokens",
                                        headers: [("Content-Type", "application/json")], body: .bytes(body)),
                            http: http, ledger: ledger, what: what)
    }

    // MARK: The answer

    private struct TokenAnswer: Decodable {
        struct Token: Decodable {
            var expires_at: String?
            var issued_at: String?
            var catalog: KeystoneCatalog?
        }
        var token: Token
    }

    private func session(from r: HTTPResponse, what: String) throws -> SwiftSession {
        guard let token = r.header("x-subject-token"), !token.isEmpty else {
            throw StoreError(.protocolError, "\(what): the answer has no X-Subject-Token", status: r.status)
        }
        let answer: TokenAnswer
        do { answer = try JSONDecoder().decode(TokenAnswer.self, from: Data(r.body)) } catch {
            throw StoreError(.protocolError, "\(what): the answer is not a Keystone v3 token", status: r.status)
        }
        let url: String
        if let storageURL { url = storageURL } else {
            guard let catalog = answer.token.catalog else {
                throw StoreError(.protocolError, "\(what): the token has no catalog; set OS_STORAGE_URL (or storage_url=)", status: r.status)
            }
            do { url = try catalog.endpoint(type: "object-store", interface: interface, region: region) } catch var e as StoreError {
                e.sentence = "\(what): " + e.sentence
                throw e
            }
        }
        return SwiftSession(token: Secret(token), storageURL: url,
                            renewAt: KeystoneAuth.renewalTime(issued: answer.token.issued_at, expires: answer.token.expires_at, now: Date()))
    }

    /// When to get the next token: before expiry by a fifth of the lifetime, at most two minutes,
    /// so a request never starts with a token about to lapse. The lifetime is Keystone's
    /// expires_at - issued_at, added to the local clock, which may differ from Keystone's.
    static func renewalTime(issued: String?, expires: String?, now: Date) -> Date? {
        guard let expires = expires.flatMap(parseTime) else { return nil }
        let lifetime = expires.timeIntervalSince(issued.flatMap(parseTime) ?? now)
        guard lifetime > 0 else { return now }
        return now.addingTimeInterval(lifetime - min(120, lifetime / 5))
    }

    /// Keystone writes 2026-11-29T15:04:24.000000Z; the fraction does not matter here.
    static func parseTime(_ text: String) -> Date? {
        let whole = text.prefix(19)
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd'T'HH:mm:ss"
        return f.date(from: String(whole))
    }

    /// Keystone answers 401 alike to a wrong password and to a project the user cannot use. One
    /// unscoped request tells the two apart: if it succeeds, the password is right.
    private func refusal(what: String, http: HTTPClient, ledger: RequestLedger?) throws -> StoreError {
        switch identity {
        case .password(let user, _):
            if let project, (try? post(requestBody(scoped: false), http: http, ledger: ledger, what: what))?.isSuccess == true {
                return StoreError(.badCredentials, "\(what): the password is right but project \(KeystoneAuth.describe(project)) "
                                  + "does not exist or the user has no role in it; check OS_PROJECT_NAME, OS_PROJECT_ID "
                                  + "or OS_PROJECT_DOMAIN_NAME", status: 401)
            }
            let which: String
            if case .id = user { which = "OS_USER_ID and OS_PASSWORD" } else { which = "OS_USERNAME, OS_USER_DOMAIN_NAME and OS_PASSWORD" }
            return StoreError(.badCredentials, "\(what): the user or password is wrong; check \(which)", status: 401)
        case .applicationCredential:
            return StoreError(.badCredentials, "\(what): the application credential is unknown, expired or its secret is wrong; "
                              + "check OS_APPLICATION_CREDENTIAL_ID (or _NAME) and OS_APPLICATION_CREDENTIAL_SECRET", status: 401)
        }
    }

    /// Keystone's own message for a failure, unless it repeats a secret (a validation message
    /// may quote the request).
    private func keystoneMessage(_ r: HTTPResponse) -> String? {
        guard let json = try? JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any],
              let error = json["error"] as? [String: Any], let message = error["message"] as? String else { return nil }
        let secret: Secret
        switch identity {
        case .password(_, let password): secret = password
        case .applicationCredential(_, _, _, let s): secret = s
        }
        if !secret.isEmpty && message.contains(secret.reveal()) { return nil }
        return String(message.prefix(300))
    }
}
