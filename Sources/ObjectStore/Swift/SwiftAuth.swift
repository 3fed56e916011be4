// How a Swift store gets a token and its storage URL. TempAuth (v1) here; Keystone v3 beside it
// (KeystoneAuth.swift) behind the same protocol.
import Foundation
import Platform

public struct SwiftSession: Sendable {
    public var token: Secret
    /// The account's URL, such as http://127.0.0.1:8080/v1/AUTH_test.
    public var storageURL: String
    /// When the store should get a new token before its next request (shortly before the token
    /// expires); nil when the token is used until Swift refuses it.
    public var renewAt: Date?

    public init(token: Secret, storageURL: String, renewAt: Date? = nil) {
        self.token = token; self.storageURL = storageURL; self.renewAt = renewAt
    }

    public func isDue(at now: Date = Date()) -> Bool { renewAt.map { now >= $0 } ?? false }
}

public protocol SwiftAuthenticator: Sendable {
    /// A short description for messages: "TempAuth user test:tester at http://…/auth/v1.0".
    var name: String { get }
    /// Gets a new token, recording each request it makes as AUTH in `ledger`. Throws
    /// `.badCredentials` when the identity or secret is refused.
    func authenticate(http: HTTPClient, ledger: RequestLedger?) throws -> SwiftSession
}

/// TempAuth and other v1 auth: GET the auth URL with X-Auth-User / X-Auth-Key, read X-Auth-Token and
/// X-Storage-Url from the answer.
public struct TempAuth: SwiftAuthenticator {
    public var authURL: String
    public var user: String
    public var key: Secret

    public init(authURL: String, user: String, key: Secret) { self.authURL = authURL; self.user = user; self.key = key }

    public var name: String { "TempAuth user \(user) at \(authURL)" }

    public func authenticate(http: HTTPClient, ledger: RequestLedger?) throws -> SwiftSession {
        let what = "Swift authentication of \(user) at \(authURL)"
        let r = try sendAuthRequest(HTTPRequest(method: "GET", url: authURL,
                                                headers: [("X-Auth-User", user), ("X-Auth-Key", key.reveal())]),
                                    http: http, ledger: ledger, what: what)
        switch r.status {
        case 200..<300:
            guard let token = r.header("x-auth-token") ?? r.header("x-storage-token"), !token.isEmpty,
                  let url = r.header("x-storage-url"), !url.isEmpty else {
                throw StoreError(.protocolError, "\(what): the answer has no X-Auth-Token or X-Storage-Url", status: r.status)
            }
            return SwiftSession(token: Secret(token), storageURL: url)
        case 401, 403:
            throw StoreError(.badCredentials, "\(what): the user or key is wrong; check ST_USER and ST_KEY", status: r.status)
        case 404:
            throw StoreError(.invalidRequest, "\(what): the auth URL was not found (404); check endpoint= or ST_AUTH", status: r.status)
        default:
            throw StoreError(StoreError.kind(forStatus: r.status), "\(what) failed with HTTP \(r.status)", status: r.status)
        }
    }
}

/// Sends one authentication request, counted as AUTH (with libcurl's silent re-sends) whatever
/// its answer; a transport failure becomes a StoreError naming `what`.
func sendAuthRequest(_ request: HTTPRequest, http: HTTPClient, ledger: RequestLedger?, what: String) throws -> HTTPResponse {
    let r: HTTPResponse
    do { r = try http.perform(request) } catch let e as HTTPError {
        ledger?.recordResends(.AUTH, requestsSent: e.requestsSent)
        ledger?.record(.AUTH, failed: true)
        throw StoreError.transport(e, what)
    }
    ledger?.recordResends(.AUTH, requestsSent: r.requestsSent)
    ledger?.record(.AUTH, failed: !r.isSuccess)
    return r
}
