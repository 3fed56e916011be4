// The OpenStack Swift backend (native API): a token from the authenticator, cached, renewed when
// the authenticator says it is due and once on a 401; PUT with the MD5 in ETag so the server
// checks the body; JSON listings paged with markers; bulk delete where the cluster has it.
import Foundation
import Platform

public final class SwiftStore: ObjectStore, @unchecked Sendable {
    public let container: String
    private let auth: any SwiftAuthenticator
    private let http: HTTPClient
    private let ledger: RequestLedger?
    private let lock = Mutex()
    private var session: SwiftSession?
    /// Grows with every new token, so a thread that saw a refused token knows whether another
    /// thread has renewed it meanwhile.
    private var generation = 0
    /// One token request at a time: the threads that find the token due or refused wait for it.
    private let authLock = NSLock()
    /// Set when the cluster answered that it has no bulk delete.
    private var noBulkDelete = false

    public init(container: String, auth: any SwiftAuthenticator, http: HTTPClient, ledger: RequestLedger? = nil) {
        self.container = container; self.auth = auth; self.http = http; self.ledger = ledger
    }

    public var name: String { "swift \(auth.name) container \(container)" }
    public var checksumKinds: ChecksumKinds { [.md5] }
    public var maxBatchDelete: Int { lock.withLock { noBulkDelete } ? 0 : 1000 }
    /// The token and storage URL in use (nil before the first request): for messages and tests.
    public var currentSession: SwiftSession? { lock.withLock { session } }

    // MARK: Operations

    public func put(_ key: String, body: ObjectBody, checksums: Checksums) throws -> ObjectInfo {
        try ObjectKey.validate(key)
        let what = "upload of \(key)"
        let md5 = try checksums.md5 ?? BodyHasher.hash(body, .md5, what: what)
        let r = try send("PUT", path: objectPath(key), headers: [("ETag", md5.hex)], body: body, kind: .PUT, what: what)
        if r.status == 422 {
            throw StoreError(.checksumMismatch, "\(what): the bytes the store received do not match their MD5", status: 422, key: key)
        }
        if r.status == 404 { throw containerMissing(404) }
        guard r.isSuccess else { throw error(r, key: key, what: what) }
        return ObjectInfo(key: key, size: body.length, etag: r.header("etag").map(HTTPObject.unquote))
    }

    public func get(_ key: String, range: ByteRange?, into sink: ObjectSink) throws -> GetResult {
        try ObjectKey.validate(key)
        let what = "download of \(key)"
        let r = try send("GET", path: objectPath(key), headers: HTTPObject.rangeHeaders(range), sink: sink.responseSink, kind: .GET, what: what)
        guard r.isSuccess else { throw error(r, key: key, what: what) }
        return try HTTPObject.result(r, key: key, sink: sink, what: what)
    }

    public func head(_ key: String) throws -> ObjectInfo {
        try ObjectKey.validate(key)
        let what = "HEAD of \(key)"
        let r = try send("HEAD", path: objectPath(key), kind: .HEAD, what: what)
        guard r.isSuccess else { throw error(r, key: key, what: what) }
        return ObjectInfo(key: key, size: r.header("content-length").flatMap(UInt64.init) ?? 0,
                          etag: r.header("etag").map(HTTPObject.unquote))
    }

    public func delete(_ key: String) throws {
        try ObjectKey.validate(key)
        let what = "delete of \(key)"
        let r = try send("DELETE", path: objectPath(key), kind: .DELETE, what: what)
        if r.isSuccess || r.status == 404 { return }
        throw error(r, key: key, what: what)
    }

    public func delete(keys: [String]) throws -> [String: StoreError] {
        guard !keys.isEmpty else { return [:] }
        for key in keys { try ObjectKey.validate(key) }
        let what = "bulk delete of \(keys.count) objects"
        let lines = keys.map { "/" + SwiftStore.encode(container) + "/" + SwiftStore.encode($0) }.joined(separator: "\n")
        let r = try send("POST", path: "", query: "bulk-delete",
                         headers: [("Content-Type", "text/plain"), ("Accept", "application/json")],
                         body: .bytes(Array(lines.utf8)), kind: .POST, what: what)
        if [404, 405, 501].contains(r.status) || (r.status == 400 && r.header("content-type")?.contains("json") != true) {
            // No bulk middleware: fall back to one DELETE per key from now on.
            lock.withLock { noBulkDelete = true }
            return deleteEach(self, keys)
        }
        guard r.isSuccess else { throw error(r, key: nil, what: what) }
        guard let json = try? JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any] else {
            throw StoreError(.protocolError, "\(what): the answer is not JSON", status: r.status)
        }
        var failed: [String: StoreError] = [:]
        for entry in json["Errors"] as? [[Any]] ?? [] {
            guard entry.count >= 2, let name = entry[0] as? String else { continue }
            let status = "\(entry[1])"
            if status.hasPrefix("404") { continue }
            let key = String(name.split(separator: "/", maxSplits: 2).dropFirst().last.map(String.init).map { SigV4Signer.percentDecode(Substring($0)) } ?? name)
            failed[key] = StoreError(status.hasPrefix("401") || status.hasPrefix("403") ? .accessDenied : .serverError,
                                     "delete of \(key) failed: \(status)", key: key)
        }
        let responseStatus = json["Response Status"] as? String ?? "200 OK"
        if failed.isEmpty && !responseStatus.hasPrefix("200") {
            throw StoreError(.serverError, "\(what) failed: \(responseStatus)")
        }
        return failed
    }

    public func list(prefix: String, continuation: String?, limit: Int) throws -> ListPage {
        let what = "listing of container \(container)"
        let pageSize = max(1, min(limit, 10_000))
        var query = "format=json&limit=\(pageSize)"
        if !prefix.isEmpty { query += "&prefix=" + SigV4Signer.uriEncode(prefix, keepSlash: false) }
        if let continuation { query += "&marker=" + SigV4Signer.uriEncode(continuation, keepSlash: false) }
        let r = try send("GET", path: "/" + SwiftStore.encode(container), query: query, kind: .LIST, what: what)
        if r.status == 404 { throw containerMissing(r.status) }
        guard r.isSuccess else { throw error(r, key: nil, what: what) }
        if r.status == 204 || r.body.isEmpty { return ListPage(objects: [], continuation: nil) }
        guard let array = try? JSONSerialization.jsonObject(with: Data(r.body)) as? [[String: Any]] else {
            throw StoreError(.protocolError, "\(what): the answer is not a JSON list", status: r.status)
        }
        let objects = array.compactMap { o -> ObjectInfo? in
            guard let name = o["name"] as? String else { return nil }
            return ObjectInfo(key: name, size: (o["bytes"] as? NSNumber)?.uint64Value ?? 0, etag: o["hash"] as? String)
        }
        // A full page may have more after it; an empty next page ends the walk.
        return ListPage(objects: objects, continuation: objects.count == pageSize ? objects.last?.key : nil)
    }

    public func createContainer() throws {
        let what = "creation of container \(container)"
        let r = try send("PUT", path: "/" + SwiftStore.encode(container), body: .empty, kind: .PUT, what: what)
        guard r.isSuccess else { throw error(r, key: nil, what: what) }
    }

    // MARK: Requests

    private func objectPath(_ key: String) -> String {
        "/" + SwiftStore.encode(container) + "/" + SwiftStore.encode(key)
    }

    /// Percent-encodes everything but unreserved characters and "/".
    static func encode(_ s: String) -> String { SigV4Signer.uriEncode(s, keepSlash: true) }

    /// The cached session, or a new one when there is none or it is due for renewal.
    private func validSession() throws -> (session: SwiftSession, generation: Int) {
        if let cached = lock.withLock({ session.map { ($0, generation) } }), !cached.0.isDue() { return cached }
        return try renewSession(replacing: lock.withLock { generation })
    }

    /// A new token, unless another thread got one after generation `stale` and it is still good.
    private func renewSession(replacing stale: Int) throws -> (session: SwiftSession, generation: Int) {
        authLock.lock()
        defer { authLock.unlock() }
        if let cached = lock.withLock({ session.map { ($0, generation) } }), cached.1 != stale, !cached.0.isDue() { return cached }
        let s = try auth.authenticate(http: http, ledger: ledger)
        return lock.withLock {
            session = s
            generation += 1
            return (s, generation)
        }
    }

    /// Sends one request with the cached token; on a 401 gets a new token once and sends again.
    private func send(_ method: String, path: String, query: String = "",
                      headers extra: [(name: String, value: String)] = [], body: RequestBody = .empty,
                      sink: ResponseSink = .buffer, kind: RequestKind, what: String) throws -> HTTPResponse {
        var renewed = false
        var session: SwiftSession, generation: Int
        do { (session, generation) = try validSession() } catch var e as StoreError {
            // No request of this kind went out, only the token requests (counted as AUTH).
            e.beforeRequest = true
            throw e
        }
        while true {
            var url = session.storageURL + path
            if !query.isEmpty { url += "?" + query }
            let request = HTTPRequest(method: method, url: url,
                                      headers: [("X-Auth-Token", session.token.reveal())] + extra, body: body)
            let r: HTTPResponse
            do { r = try http.perform(request, sink: sink) } catch let e as HTTPError {
                ledger?.recordResends(kind, requestsSent: e.requestsSent)
                throw StoreError.transport(e, what)
            }
            ledger?.recordResends(kind, requestsSent: r.requestsSent)
            if r.status == 401 && !renewed {
                renewed = true
                (session, generation) = try renewSession(replacing: generation)
                // Counted once the new token is there: without one, the request is not sent again.
                ledger?.record(kind, failed: false, retry: true)
                continue
            }
            return r
        }
    }

    private func containerMissing(_ status: Int) -> StoreError {
        StoreError(.containerNotFound, "container \(container) does not exist; create it with `chunkctl store create` or fix container=",
                   status: status)
    }

    private func error(_ r: HTTPResponse, key: String?, what: String) -> StoreError {
        let txid = r.header("x-trans-id")
        switch r.status {
        case 401:
            let hint = auth is TempAuth ? "check ST_USER and ST_KEY" : "check that the storage URL is this Keystone's Swift and the user has a role there"
            return StoreError(.badCredentials, "\(what): Swift refused the token even after renewing it; \(hint)",
                              status: 401, requestID: txid, key: key)
        case 403:
            return StoreError(.accessDenied, "\(what): access denied to container \(container)", status: 403, requestID: txid, key: key)
        case 404:
            return StoreError(.notFound, "\(what): no object \(key ?? "") in container \(container)", status: 404, requestID: txid, key: key)
        case 416:
            return StoreError(.invalidRange, "\(what): the requested range starts past the end of the object", status: 416, requestID: txid, key: key)
        default:
            let text = String(decoding: r.body.prefix(200), as: UTF8.self)
                .components(separatedBy: .newlines).joined(separator: " ")
            return StoreError(StoreError.kind(forStatus: r.status), "\(what) failed with HTTP \(r.status)" + (text.isEmpty ? "" : ": \(text)"),
                              status: r.status, requestID: txid, key: key)
        }
    }
}
