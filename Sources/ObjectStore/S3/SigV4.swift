// AWS Signature Version 4: canonical request, string to sign, signature; in the Authorization
// header or as a presigned query string. Checked against the AWS test suite (Tests/ObjectStoreTests).
import Foundation
import Platform

public struct AWSCredentials: Sendable, Equatable {
    public var accessKeyID: String
    public var secretAccessKey: Secret
    public var sessionToken: Secret?
    public init(accessKeyID: String, secretAccessKey: Secret, sessionToken: Secret? = nil) {
        self.accessKeyID = accessKeyID; self.secretAccessKey = secretAccessKey; self.sessionToken = sessionToken
    }
}

public struct SigV4Signer: Sendable {
    public var credentials: AWSCredentials
    public var region: String
    public var service: String

    public init(credentials: AWSCredentials, region: String, service: String = "s3") {
        self.credentials = credentials; self.region = region; self.service = service
    }

    /// A request to sign. `path` is the decoded path ("/bucket/my key"); `query` holds decoded pairs.
    public struct Request: Sendable {
        public var method: String
        public var path: String
        public var query: [(name: String, value: String)]
        /// Must include `host`. Names in any case.
        public var headers: [(name: String, value: String)]
        /// Hex SHA-256 of the body, or "UNSIGNED-PAYLOAD".
        public var payloadHash: String
        public init(method: String, path: String, query: [(name: String, value: String)] = [],
                    headers: [(name: String, value: String)], payloadHash: String) {
            self.method = method; self.path = path; self.query = query; self.headers = headers; self.payloadHash = payloadHash
        }
    }

    public enum Placement: Sendable {
        /// Authorization header; adds x-amz-date (and x-amz-security-token, x-amz-content-sha256).
        case headers(signPayloadHeader: Bool)
        /// Presigned URL valid for `expires` seconds.
        case query(expires: Int)
    }

    public struct Signed: Sendable {
        /// Headers to send in addition to the request's own.
        public var addedHeaders: [(name: String, value: String)]
        /// The complete query string to send (encoded, sorted), without "?".
        public var queryString: String
        /// The path to put in the URL (encoded exactly as signed).
        public var encodedPath: String
        public var canonicalRequest: String
        public var stringToSign: String
        public var signature: String
    }

    /// Signs `request` at `date`. `normalizePath` removes dot segments and empty segments (not for S3,
    /// whose keys are taken literally). `omitSessionToken` sends the token unsigned (some services).
    public func sign(_ request: Request, date: Date, placement: Placement,
                     normalizePath: Bool = false, omitSessionToken: Bool = false) -> Signed {
        let (amzDate, day) = SigV4Signer.timestamps(date)
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        var headers = request.headers
        var added: [(name: String, value: String)] = []
        var query = request.query

        switch placement {
        case .headers(let signPayloadHeader):
            added.append(("X-Amz-Date", amzDate))
            if signPayloadHeader { added.append(("x-amz-content-sha256", request.payloadHash)) }
            if let token = credentials.sessionToken, !omitSessionToken {
                added.append(("X-Amz-Security-Token", token.reveal()))
            }
            headers += added
        case .query(let expires):
            query += [("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
                      ("X-Amz-Credential", "\(credentials.accessKeyID)/\(scope)"),
                      ("X-Amz-Date", amzDate),
                      ("X-Amz-Expires", String(expires))]
            if let token = credentials.sessionToken, !omitSessionToken {
                query.append(("X-Amz-Security-Token", token.reveal()))
            }
        }

        let canonicalHeaders = SigV4Signer.canonicalHeaders(headers)
        let signedHeaders = canonicalHeaders.map(\.name).joined(separator: ";")
        if case .query = placement { query.append(("X-Amz-SignedHeaders", signedHeaders)) }

        let path = normalizePath ? SigV4Signer.normalize(request.path) : request.path
        let encodedPath = SigV4Signer.uriEncode(path, keepSlash: true)
        let canonicalQuery = SigV4Signer.canonicalQuery(query)
        let canonicalRequest = [
            request.method, encodedPath, canonicalQuery,
            canonicalHeaders.map { "\($0.name):\($0.value)\n" }.joined(),
            signedHeaders, request.payloadHash,
        ].joined(separator: "\n")
        let stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope,
                            Digest.sha256(Array(canonicalRequest.utf8)).hex].joined(separator: "\n")
        let signature = HMACSHA256.mac(key: signingKey(day: day), Array(stringToSign.utf8)).hex

        var queryString = canonicalQuery
        switch placement {
        case .headers:
            added.append(("Authorization", "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), "
                          + "SignedHeaders=\(signedHeaders), Signature=\(signature)"))
            if omitSessionToken, let token = credentials.sessionToken {
                added.append(("X-Amz-Security-Token", token.reveal()))
            }
        case .query:
            if omitSessionToken, let token = credentials.sessionToken {
                queryString += "&X-Amz-Security-Token=" + SigV4Signer.uriEncode(token.reveal(), keepSlash: false)
            }
            queryString += "&X-Amz-Signature=" + signature
        }
        return Signed(addedHeaders: added, queryString: queryString, encodedPath: encodedPath,
                      canonicalRequest: canonicalRequest, stringToSign: stringToSign, signature: signature)
    }

    /// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, day), region), service), "aws4_request").
    func signingKey(day: String) -> [UInt8] {
        let kDate = HMACSHA256.mac(key: Array(("AWS4" + credentials.secretAccessKey.reveal()).utf8), Array(day.utf8))
        let kRegion = HMACSHA256.mac(key: kDate, Array(region.utf8))
        let kService = HMACSHA256.mac(key: kRegion, Array(service.utf8))
        return HMACSHA256.mac(key: kService, Array("aws4_request".utf8))
    }

    static func timestamps(_ date: Date) -> (amzDate: String, day: String) {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var tm = tm()
        gmtime_r(&t, &tm)
        let day = String(format: "%04d%02d%02d", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1, Int(tm.tm_mday))
        let amzDate = day + String(format: "T%02d%02d%02dZ", Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec))
        return (amzDate, day)
    }

    /// Lower-case names, sorted; values trimmed with inner runs of white space folded to one space;
    /// repeated names joined with commas in the order given.
    static func canonicalHeaders(_ headers: [(name: String, value: String)]) -> [(name: String, value: String)] {
        var merged: [String: [String]] = [:]
        for (name, value) in headers {
            let folded = value.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" })
                .joined(separator: " ")
            merged[name.lowercased(), default: []].append(folded)
        }
        return merged.keys.sorted().map { ($0, merged[$0]!.joined(separator: ",")) }
    }

    static func canonicalQuery(_ pairs: [(name: String, value: String)]) -> String {
        pairs.map { (uriEncode($0.name, keepSlash: false), uriEncode($0.value, keepSlash: false)) }
            .sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }

    /// RFC 3986 percent-encoding of everything but the unreserved characters (and "/" in paths),
    /// upper-case hex, as SigV4 requires. Applied once: S3 keys are encoded exactly one time.
    public static func uriEncode(_ string: String, keepSlash: Bool) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out = [UInt8]()
        out.reserveCapacity(string.utf8.count)
        for b in string.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"),
                 UInt8(ascii: "."), UInt8(ascii: "~"):
                out.append(b)
            case UInt8(ascii: "/") where keepSlash:
                out.append(b)
            default:
                out += [UInt8(ascii: "%"), hex[Int(b >> 4)], hex[Int(b & 15)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Removes "." and ".." segments and empty segments; keeps a trailing slash.
    static func normalize(_ path: String) -> String {
        var segments: [Substring] = []
        for s in path.split(separator: "/", omittingEmptySubsequences: true) {
            if s == "." { continue }
            if s == ".." { _ = segments.popLast(); continue }
            segments.append(s)
        }
        var result = "/" + segments.joined(separator: "/")
        if path.hasSuffix("/") && !segments.isEmpty { result += "/" }
        return result
    }

    /// Decodes %XX escapes (and nothing else); invalid escapes are kept as they are.
    public static func percentDecode(_ s: Substring) -> String {
        var out = [UInt8]()
        let bytes = Array(s.utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "%"), i + 2 < bytes.count,
               let v = UInt8(String(decoding: bytes[(i + 1)...(i + 2)], as: UTF8.self), radix: 16) {
                out.append(v); i += 3
            } else { out.append(bytes[i]); i += 1 }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
