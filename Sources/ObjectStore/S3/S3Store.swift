// The S3 backend: SigV4-signed requests over the HTTP client. Follows 301/307 redirects and corrects
// for clock skew with a fresh signature each time; turns S3's error XML into StoreError.
import Foundation
import Platform

public final class S3Store: ObjectStore, @unchecked Sendable {
    public let configuration: S3Configuration
    private let http: HTTPClient
    private let ledger: RequestLedger?
    private let clock: @Sendable () -> Date
    private let lock = Mutex()
    /// Seconds to add to the local clock, learnt from a RequestTimeTooSkewed answer.
    private var skew: Double = 0
    /// Where the bucket lives, updated by a permanent redirect.
    private var endpoint: Endpoint
    private var region: String

    public init(configuration: S3Configuration, http: HTTPClient, ledger: RequestLedger? = nil,
                clock: @escaping @Sendable () -> Date = { Date() }) {
        self.configuration = configuration; self.http = http; self.ledger = ledger; self.clock = clock
        self.endpoint = configuration.endpoint; self.region = configuration.region
    }

    public var name: String { "s3 \(configuration.endpoint) bucket \(configuration.bucket)" }
    /// A signed payload is checked by its SHA-256 (x-amz-content-sha256, which the server verifies):
    /// a Content-MD5 beside it would cost an MD5 pass over every body (about 1.7 s of CPU per GiB)
    /// for no further check. An unsigned payload is guarded by Content-MD5.
    public var checksumKinds: ChecksumKinds { configuration.signPayload ? [.sha256] : [.md5] }
    public var maxBatchDelete: Int { 1000 }
    /// The clock correction in force, in seconds.
    public var clockSkew: Double { lock.withLock { skew } }

    // MARK: Operations

    public func put(_ key: String, body: ObjectBody, checksums: Checksums) throws -> ObjectInfo {
        try ObjectKey.validate(key)
        var payloadHash = "UNSIGNED-PAYLOAD"
        if configuration.signPayload {
            payloadHash = try (checksums.sha256 ?? BodyHasher.hash(body, .sha256, what: "upload of \(key)")).hex
        }
        var headers: [(name: String, value: String)] = []
        if let md5 = checksums.md5 { headers.append(("Content-MD5", Data(md5).base64EncodedString())) }
        let r = try send("PUT", key: key, headers: headers, body: body, payloadHash: payloadHash, kind: .PUT, what: "upload of \(key)")
        guard r.isSuccess else { throw error(r, key: key, what: "upload of \(key)") }
        return ObjectInfo(key: key, size: body.length, etag: r.header("etag").map(HTTPObject.unquote))
    }

    public func get(_ key: String, range: ByteRange?, into sink: ObjectSink) throws -> GetResult {
        try ObjectKey.validate(key)
        let what = "download of \(key)"
        let r = try send("GET", key: key, headers: HTTPObject.rangeHeaders(range), sink: sink.responseSink, kind: .GET, what: what)
        guard r.isSuccess else { throw error(r, key: key, what: what) }
        return try HTTPObject.result(r, key: key, sink: sink, what: what)
    }

    public func head(_ key: String) throws -> ObjectInfo {
        try ObjectKey.validate(key)
        let r = try send("HEAD", key: key, kind: .HEAD, what: "HEAD of \(key)")
        guard r.isSuccess else { throw error(r, key: key, what: "HEAD of \(key)") }
        return ObjectInfo(key: key, size: r.header("content-length").flatMap(UInt64.init) ?? 0,
                          etag: r.header("etag").map(HTTPObject.unquote))
    }

    public func delete(_ key: String) throws {
        try ObjectKey.validate(key)
        let r = try send("DELETE", key: key, kind: .DELETE, what: "delete of \(key)")
        if r.isSuccess || r.status == 404 && S3Error.parse(r.body)?.code != "NoSuchBucket" { return }
        throw error(r, key: key, what: "delete of \(key)")
    }

    public func delete(keys: [String]) throws -> [String: StoreError] {
        precondition(keys.count <= maxBatchDelete)
        guard !keys.isEmpty else { return [:] }
        for key in keys { try ObjectKey.validate(key) }
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>"
        for key in keys { xml += "<Object><Key>\(S3Store.xmlEscape(key))</Key></Object>" }
        xml += "</Delete>"
        let body = Array(xml.utf8)
        // Content-MD5 is required by the API for this call.
        let headers = [("Content-MD5", Data(Digest.md5(body)).base64EncodedString()), ("Content-Type", "application/xml")]
        let r = try send("POST", key: nil, query: [("delete", "")], headers: headers, body: .bytes(body),
                         payloadHash: Digest.sha256(body).hex, kind: .POST, what: "batch delete of \(keys.count) keys")
        guard r.isSuccess else { throw error(r, key: nil, what: "batch delete of \(keys.count) keys") }
        guard let doc = XMLElement.parse(r.body) else { return [:] }
        var failed: [String: StoreError] = [:]
        for e in doc.children("Error") {
            let key = e["Key"] ?? ""
            let code = e["Code"] ?? "Error"
            if code == "NoSuchKey" { continue }
            failed[key] = StoreError(S3Error.kind(code: code, status: 0), "delete of \(key) failed: \(code) \(e["Message"] ?? "")",
                                     code: code, message: e["Message"], key: key)
        }
        return failed
    }

    public func list(prefix: String, continuation: String?, limit: Int) throws -> ListPage {
        var query: [(name: String, value: String)] = [("list-type", "2"), ("max-keys", String(max(1, min(limit, 1000))))]
        if !prefix.isEmpty { query.append(("prefix", prefix)) }
        if let continuation { query.append(("continuation-token", continuation)) }
        let r = try send("GET", key: nil, query: query, kind: .LIST, what: "listing of \(prefix.isEmpty ? "bucket \(configuration.bucket)" : prefix)")
        guard r.isSuccess else { throw error(r, key: nil, what: "listing of \(prefix.isEmpty ? "bucket \(configuration.bucket)" : prefix)") }
        guard let doc = XMLElement.parse(r.body), doc.name == "ListBucketResult" else {
            throw StoreError(.protocolError, "the listing of \(configuration.bucket) is not a ListBucketResult document", status: r.status)
        }
        let objects = doc.children("Contents").map { c in
            ObjectInfo(key: c["Key"] ?? "", size: c["Size"].flatMap(UInt64.init) ?? 0, etag: c["ETag"].map(HTTPObject.unquote))
        }
        let truncated = doc["IsTruncated"] == "true"
        let next = truncated ? doc["NextContinuationToken"] : nil
        if truncated && next == nil {
            throw StoreError(.protocolError, "the listing is truncated but has no NextContinuationToken")
        }
        return ListPage(objects: objects, continuation: next)
    }

    public func createContainer() throws {
        var body: [UInt8] = []
        if region != "us-east-1" {
            body = Array(("<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                          + "<LocationConstraint>\(region)</LocationConstraint></CreateBucketConfiguration>").utf8)
        }
        let r = try send("PUT", key: nil, body: body.isEmpty ? .empty : .bytes(body), payloadHash: Digest.sha256(body).hex,
                         kind: .PUT, what: "creation of bucket \(configuration.bucket)")
        if r.isSuccess || S3Error.parse(r.body)?.code == "BucketAlreadyOwnedByYou" { return }
        throw error(r, key: nil, what: "creation of bucket \(configuration.bucket)")
    }

    /// A presigned GET (or other method) URL valid for `expires` seconds; no request is made.
    public func presignedURL(_ key: String, method: String = "GET", expires: Int) -> String {
        let (ep, reg, now) = lock.withLock { (endpoint, region, clock().addingTimeInterval(skew)) }
        let target = self.target(key: key, endpoint: ep)
        let signer = SigV4Signer(credentials: configuration.credentials, region: reg)
        let signed = signer.sign(.init(method: method, path: target.path, headers: [("host", target.host)],
                                       payloadHash: "UNSIGNED-PAYLOAD"),
                                 date: now, placement: .query(expires: expires))
        return "\(ep.scheme)://\(target.host)\(signed.encodedPath)?\(signed.queryString)"
    }

    // MARK: Requests

    private func target(key: String?, endpoint ep: Endpoint) -> (host: String, path: String) {
        let keyPath = key.map { "/" + $0 } ?? "/"
        switch configuration.addressing {
        case .path:
            let bucketPath = "/" + configuration.bucket + (key == nil ? "" : keyPath)
            return (ep.hostHeader, SigV4Signer.percentDecode(Substring(ep.basePath)) + bucketPath)
        case .virtual:
            var host = ep
            host.host = configuration.bucket + "." + ep.host
            return (host.hostHeader, SigV4Signer.percentDecode(Substring(ep.basePath)) + keyPath)
        }
    }

    /// Signs and sends one request; re-signs and re-sends after a redirect (at most 3), a clock-skew
    /// answer or a region hint (once each). Transport failures throw StoreError.
    private func send(_ method: String, key: String?, query: [(name: String, value: String)] = [],
                      headers extra: [(name: String, value: String)] = [], body: RequestBody = .empty,
                      payloadHash: String? = nil, sink: ResponseSink = .buffer,
                      kind: RequestKind, what: String) throws -> HTTPResponse {
        var redirects = 0
        var skewFixed = false
        var regionFixed = false
        var temporary: Endpoint? = nil
        var first = true
        while true {
            let (ep, reg, now) = lock.withLock { (temporary ?? endpoint, region, clock().addingTimeInterval(skew)) }
            let target = self.target(key: key, endpoint: ep)
            let signer = SigV4Signer(credentials: configuration.credentials, region: reg)
            let hash = payloadHash ?? Digest.sha256([UInt8]()).hex
            let signed = signer.sign(.init(method: method, path: target.path, query: query,
                                           headers: [("host", target.host)] + extra, payloadHash: hash),
                                     date: now, placement: .headers(signPayloadHeader: true))
            var url = "\(ep.scheme)://\(target.host)\(signed.encodedPath)"
            if !signed.queryString.isEmpty { url += "?" + signed.queryString }
            let request = HTTPRequest(method: method, url: url,
                                      headers: [("Host", target.host)] + extra + signed.addedHeaders, body: body)
            if !first { ledger?.record(kind, retry: true) }
            first = false
            let response: HTTPResponse
            do { response = try http.perform(request, sink: sink) } catch let e as HTTPError {
                ledger?.recordResends(kind, requestsSent: e.requestsSent)
                throw StoreError.transport(e, what)
            }
            ledger?.recordResends(kind, requestsSent: response.requestsSent)
            // Redirects: 301 moves the bucket for good, 307 for this request only.
            if [301, 302, 307, 308].contains(response.status), redirects < 3,
               let next = redirectTarget(response, current: ep) {
                redirects += 1
                if let newRegion = response.header("x-amz-bucket-region"), !newRegion.isEmpty {
                    lock.withLock { region = newRegion }
                }
                if response.status == 301 || response.status == 308 { lock.withLock { endpoint = next }; temporary = nil }
                else { temporary = next }
                continue
            }
            if response.status == 403 || response.status == 400, let err = S3Error.parse(response.body) {
                if err.code == "RequestTimeTooSkewed", !skewFixed, let serverTime = S3Store.serverTime(response, err) {
                    skewFixed = true
                    lock.withLock { skew = serverTime.timeIntervalSince(clock()) }
                    continue
                }
                if err.code == "AuthorizationHeaderMalformed", !regionFixed, let r = err.region, r != reg {
                    regionFixed = true
                    lock.withLock { region = r }
                    continue
                }
            }
            return response
        }
    }

    private func redirectTarget(_ r: HTTPResponse, current: Endpoint) -> Endpoint? {
        if let location = r.header("location"), let c = URLComponents(string: location), let host = c.host {
            return Endpoint(scheme: c.scheme ?? current.scheme, host: configuration.addressing == .virtual
                            ? String(host.dropFirst(configuration.bucket.count + 1)) : host,
                            port: c.port, basePath: current.basePath)
        }
        if let xml = S3Error.parse(r.body), let endpointHost = xml.endpoint {
            var host = endpointHost
            if configuration.addressing == .virtual, host.hasPrefix(configuration.bucket + ".") {
                host = String(host.dropFirst(configuration.bucket.count + 1))
            }
            return Endpoint(scheme: current.scheme, host: host, port: nil, basePath: current.basePath)
        }
        return nil
    }

    private func error(_ r: HTTPResponse, key: String?, what: String) -> StoreError {
        S3Error.storeError(r, key: key, bucket: configuration.bucket, what: what)
    }

    static func serverTime(_ r: HTTPResponse, _ e: S3Error) -> Date? {
        if let t = e.serverTime, let d = ISO8601DateFormatter().date(from: t) { return d }
        return r.header("date").flatMap(HTTPDate.parse)
    }

    static func xmlEscape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(c)
            }
        }
        return out
    }
}

/// RFC 1123 dates, as in the Date header.
enum HTTPDate {
    static func parse(_ text: String) -> Date? {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return f.date(from: text)
    }
}
