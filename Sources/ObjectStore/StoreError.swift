// The one error type of the object-store layer. Every backend maps its protocol's errors onto these
// kinds, so the layers above decide on a kind (retry, report, give up), never on a backend's codes.
import Platform

public struct StoreError: Error, CustomStringConvertible, Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        /// The key does not exist.
        case notFound
        /// The bucket or container does not exist.
        case containerNotFound
        /// The store refused the credentials: unknown access key or user, wrong secret or password.
        case badCredentials
        /// The credentials are valid but not allowed this operation.
        case accessDenied
        /// The request's time was too far from the server's.
        case clockSkew
        /// A ranged read that starts at or past the end of the object.
        case invalidRange
        /// The bytes the store received do not match the checksum sent with them.
        case checksumMismatch
        /// No connection could be made (refused, unresolvable, TLS handshake failed is `.tls`).
        case unreachable
        /// A connection broke or stalled mid-request.
        case connectionLost
        case timeout
        /// 429, 503 SlowDown: the store asks for fewer requests.
        case throttled
        /// 5xx other than throttling.
        case serverError
        /// The server's certificate could not be verified, or TLS failed.
        case tls
        /// The request or the configuration is wrong (a 4xx we have no better name for).
        case invalidRequest
        /// A local file could not be read or written.
        case io
        /// The server's answer made no sense (unparseable XML or JSON, missing headers).
        case protocolError
    }

    public var kind: Kind
    /// One plain sentence for people: what happened and, where it helps, what to do. Never a secret.
    public var sentence: String
    public var status: Int?
    /// The store's own error code (S3's `Code`, such as SignatureDoesNotMatch).
    public var code: String?
    /// The store's own message.
    public var message: String?
    public var requestID: String?
    public var key: String?
    /// For `.clockSkew`: the server's time, when it said.
    public var serverTime: Double?
    /// The operation failed before its own request went on the wire (getting a Swift token failed;
    /// the token requests are counted as AUTH): the Counting decorator does not count it a request.
    public var beforeRequest = false

    public init(_ kind: Kind, _ sentence: String, status: Int? = nil, code: String? = nil, message: String? = nil,
                requestID: String? = nil, key: String? = nil) {
        self.kind = kind; self.sentence = sentence; self.status = status; self.code = code
        self.message = message; self.requestID = requestID; self.key = key
    }

    /// Worth another attempt after a pause: the same request may succeed.
    public var isTransient: Bool {
        switch kind {
        case .unreachable, .connectionLost, .timeout, .throttled, .serverError: return true
        default: return false
        }
    }

    public var description: String {
        var parts = [sentence]
        var detail: [String] = []
        if let status { detail.append("HTTP \(status)") }
        if let code { detail.append(code) }
        if let requestID { detail.append("request id \(requestID)") }
        if !detail.isEmpty { parts.append("(" + detail.joined(separator: ", ") + ")") }
        return parts.joined(separator: " ")
    }

    /// Maps a transport failure (no complete HTTP answer) to a kind.
    public static func transport(_ error: HTTPError, _ what: String) -> StoreError {
        switch error.kind {
        case .resolve, .connect:
            return StoreError(.unreachable, "\(what): the store cannot be reached: \(error.detail)")
        case .timeout:
            return StoreError(.timeout, "\(what): the store did not answer in time: \(error.detail)")
        case .connectionLost:
            return StoreError(.connectionLost, "\(what): the connection broke: \(error.detail)")
        case .tls:
            return StoreError(.tls, "\(what): TLS failed: \(error.detail). If the server's certificate is "
                              + "signed by your own authority, name its PEM file with tls_ca=")
        case .localIO:
            return StoreError(.io, "\(what): \(error.detail)")
        case .invalidURL:
            return StoreError(.invalidRequest, "\(what): the endpoint is not a usable URL: \(error.detail)")
        case .other:
            return StoreError(.connectionLost, "\(what): \(error.detail)")
        }
    }

    /// A kind for an HTTP status that came without a better description.
    public static func kind(forStatus status: Int) -> Kind {
        switch status {
        case 401: return .badCredentials
        case 403: return .accessDenied
        case 404: return .notFound
        case 416: return .invalidRange
        case 429: return .throttled
        case 500...599: return status == 503 ? .throttled : .serverError
        case 408: return .timeout
        default: return .invalidRequest
        }
    }
}
