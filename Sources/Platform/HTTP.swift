// The only file that imports libcurl. One request at a time per easy handle; handles are pooled so
// their connections stay open (keep-alive) from one request to the next. Request bodies stream from
// a file region and responses stream into a file: no object is ever held whole in memory.
import CCurl
import CCurlShim
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Settings shared by every request of one client.
public struct HTTPSettings: Sendable {
    /// Seconds allowed to establish a connection (TCP and TLS).
    public var connectTimeout: Double = 10
    /// A transfer that moves no byte for this many seconds (counted from the last one) is abandoned.
    public var stallTimeout: Int = 60
    /// PEM bundle of trusted certificate authorities (`tls_ca=`); nil uses the system's.
    public var caFile: String? = nil
    /// Certificate verification; off only through an explicit option that warns every time.
    public var verifyTLS: Bool = true
    public var userAgent: String = "chunkvol/0.1"
    public init() {}
}

/// What a request sends. File regions are read with pread as libcurl asks for them.
public enum RequestBody: Sendable {
    case empty
    case bytes([UInt8])
    case file(descriptor: Int32, offset: UInt64, length: UInt64)

    public var length: UInt64 {
        switch self {
        case .empty: return 0
        case .bytes(let b): return UInt64(b.count)
        case .file(_, _, let length): return length
        }
    }
}

/// Where a successful (2xx) response body goes. Error bodies always go to `HTTPResponse.body`.
public enum ResponseSink: Sendable {
    case buffer
    case file(descriptor: Int32, offset: UInt64)
}

public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(name: String, value: String)]
    public var body: RequestBody
    public init(method: String, url: String, headers: [(name: String, value: String)] = [], body: RequestBody = .empty) {
        self.method = method; self.url = url; self.headers = headers; self.body = body
    }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    /// Header names in lower case, in the order received.
    public var headers: [(name: String, value: String)]
    /// The body when the sink was `.buffer`, or the error body of a non-2xx answer.
    public var body: [UInt8]
    /// Bytes written to the sink (the file or the buffer).
    public var bodyLength: UInt64
    public var bytesSent: UInt64
    /// Requests that went on the wire for this one: more than 1 when libcurl re-sent it on a fresh
    /// connection after a reused one died. Counted so the request tally stays the server's.
    public var requestsSent: Int

    public init(status: Int, headers: [(name: String, value: String)], body: [UInt8], bodyLength: UInt64,
                bytesSent: UInt64, requestsSent: Int) {
        self.status = status; self.headers = headers; self.body = body; self.bodyLength = bodyLength
        self.bytesSent = bytesSent; self.requestsSent = requestsSent
    }

    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first(where: { $0.name == lower })?.value
    }
    public var isSuccess: Bool { (200..<300).contains(status) }
}

/// A request that got no complete HTTP answer.
public struct HTTPError: Error, CustomStringConvertible, Sendable {
    public enum Kind: String, Sendable {
        case resolve, connect, timeout, connectionLost, tls, localIO, invalidURL, other
    }
    public var kind: Kind
    public var curlCode: Int32
    public var detail: String
    /// Requests that went on the wire before the failure (see HTTPResponse.requestsSent).
    public var requestsSent: Int = 1
    /// Worth another attempt: the server may answer next time.
    public var isTransient: Bool { [.connect, .timeout, .connectionLost].contains(kind) }
    public var description: String { "\(detail) (curl error \(curlCode))" }
}

/// A pool of libcurl easy handles. Thread-safe: each `perform` takes a handle of its own.
public final class HTTPClient: @unchecked Sendable {
    public let settings: HTTPSettings
    private let lock = Mutex()
    private var idle: [UnsafeMutableRawPointer] = []
    private let maxIdle = 32

    private static let globalInit: Void = { _ = curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    public init(settings: HTTPSettings = HTTPSettings()) {
        _ = HTTPClient.globalInit
        self.settings = settings
    }

    deinit { for h in idle { curl_easy_cleanup(h) } }

    private func acquire() -> UnsafeMutableRawPointer {
        if let h = lock.withLock({ idle.popLast() }) { curl_easy_reset(h); return h }
        guard let h = curl_easy_init() else { fatalError("curl_easy_init failed: out of memory") }
        return h
    }

    private func release(_ h: UnsafeMutableRawPointer, reusable: Bool) {
        let keep = reusable && lock.withLock { () -> Bool in
            guard idle.count < maxIdle else { return false }
            idle.append(h); return true
        }
        if !keep { curl_easy_cleanup(h) }
    }

    /// Sends one request and waits for its answer. Throws `HTTPError` only when no complete answer
    /// came; any HTTP status, error or not, is returned.
    public func perform(_ request: HTTPRequest, sink: ResponseSink = .buffer) throws -> HTTPResponse {
        let h = acquire()
        let exchange = Exchange(body: request.body, sink: sink)
        var headerList: UnsafeMutablePointer<curl_slist>? = nil
        defer { curl_slist_free_all(headerList) }
        for (name, value) in request.headers {
            headerList = curl_slist_append(headerList, value.isEmpty ? "\(name);" : "\(name): \(value)")
        }
        // libcurl would otherwise wait for a 100-continue before every large upload.
        headerList = curl_slist_append(headerList, "Expect:")
        headerList = curl_slist_append(headerList, "Accept:")

        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        let unmanaged = Unmanaged.passRetained(exchange)
        defer { unmanaged.release() }
        let context = unmanaged.toOpaque()

        let stall = UnsafeMutablePointer<ccurl_stall>.allocate(capacity: 1)
        stall.initialize(to: ccurl_stall())
        defer { stall.deallocate() }
        let code: CURLcode = errorBuffer.withUnsafeMutableBufferPointer { eb in
            configure(h, request: request, headers: headerList, context: context, errorBuffer: eb.baseAddress!)
            _ = ccurl_set_stall_guard(h, stall, settings.stallTimeout * 1000)
            return curl_easy_perform(h)
        }
        if code == CURLE_ABORTED_BY_CALLBACK && stall.pointee.stalled != 0 {
            release(h, reusable: false)
            throw HTTPError(kind: .timeout, curlCode: Int32(CURLE_OPERATION_TIMEDOUT.rawValue),
                            detail: "no byte moved for \(settings.stallTimeout) s (io_timeout)", requestsSent: max(exchange.requestsSent, 1))
        }
        if let err = exchange.localError {
            release(h, reusable: false)
            throw HTTPError(kind: .localIO, curlCode: Int32(code.rawValue), detail: err, requestsSent: exchange.requestsSent)
        }
        guard code == CURLE_OK else {
            release(h, reusable: false)
            let message = errorBuffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            let detail = message.isEmpty ? String(cString: curl_easy_strerror(code)) : message
            throw HTTPError(kind: HTTPClient.kind(of: code), curlCode: Int32(code.rawValue), detail: detail,
                            requestsSent: max(exchange.requestsSent, 1))
        }
        var status = 0
        _ = ccurl_getinfo_long(h, CURLINFO_RESPONSE_CODE, &status)
        release(h, reusable: true)
        return HTTPResponse(status: status, headers: exchange.headers, body: exchange.buffer,
                            bodyLength: exchange.written, bytesSent: exchange.sent, requestsSent: max(exchange.requestsSent, 1))
    }

    private func configure(_ h: UnsafeMutableRawPointer, request: HTTPRequest,
                           headers: UnsafeMutablePointer<curl_slist>?, context: UnsafeMutableRawPointer,
                           errorBuffer: UnsafeMutablePointer<CChar>) {
        _ = ccurl_setopt_string(h, CURLOPT_URL, request.url)
        _ = ccurl_setopt_pointer(h, CURLOPT_ERRORBUFFER, errorBuffer)
        _ = ccurl_setopt_long(h, CURLOPT_NOSIGNAL, 1)
        // S3 keys may contain "..": the path must reach the server exactly as signed.
        _ = ccurl_setopt_long(h, CURLOPT_PATH_AS_IS, 1)
        _ = ccurl_setopt_long(h, CURLOPT_FOLLOWLOCATION, 0)
        _ = ccurl_setopt_long(h, CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_1_1))
        _ = ccurl_setopt_long(h, CURLOPT_CONNECTTIMEOUT_MS, Int(settings.connectTimeout * 1000))
        _ = ccurl_setopt_long(h, CURLOPT_LOW_SPEED_LIMIT, 1)
        _ = ccurl_setopt_long(h, CURLOPT_LOW_SPEED_TIME, settings.stallTimeout)
        _ = ccurl_setopt_long(h, CURLOPT_TCP_KEEPALIVE, 1)
        _ = ccurl_setopt_long(h, CURLOPT_TCP_NODELAY, 1)
        // Larger buffers than libcurl's 16 KiB / 64 KiB defaults: fewer callbacks per chunk. Each
        // transfer under way holds both, so they are what memory grows by with uploads=: 512 KiB
        // each moves a 64 MiB chunk in 128 reads and sends, as fast as 2 MiB did, for a quarter of it.
        _ = ccurl_setopt_long(h, CURLOPT_BUFFERSIZE, 512 * 1024)
        _ = ccurl_setopt_long(h, CURLOPT_UPLOAD_BUFFERSIZE, 512 * 1024)
        _ = ccurl_setopt_string(h, CURLOPT_USERAGENT, settings.userAgent)
        _ = ccurl_setopt_long(h, CURLOPT_SSL_VERIFYPEER, settings.verifyTLS ? 1 : 0)
        _ = ccurl_setopt_long(h, CURLOPT_SSL_VERIFYHOST, settings.verifyTLS ? 2 : 0)
        if let ca = settings.caFile { _ = ccurl_setopt_string(h, CURLOPT_CAINFO, ca) }
        _ = ccurl_setopt_slist(h, CURLOPT_HTTPHEADER, headers)

        // The debug callback sees every request head libcurl sends, including its own re-sends.
        _ = ccurl_setopt_long(h, CURLOPT_VERBOSE, 1)
        _ = ccurl_setopt_pointer(h, CURLOPT_DEBUGDATA, context)
        _ = ccurl_setopt_debug_callback(h, debugCallback)
        _ = ccurl_setopt_pointer(h, CURLOPT_HEADERDATA, context)
        _ = ccurl_setopt_data_callback(h, CURLOPT_HEADERFUNCTION, headerCallback)
        _ = ccurl_setopt_pointer(h, CURLOPT_WRITEDATA, context)
        _ = ccurl_setopt_data_callback(h, CURLOPT_WRITEFUNCTION, writeCallback)

        switch request.method {
        case "GET": _ = ccurl_setopt_long(h, CURLOPT_HTTPGET, 1)
        case "HEAD": _ = ccurl_setopt_long(h, CURLOPT_NOBODY, 1)
        default: break
        }
        if request.method != "GET" && request.method != "HEAD" {
            let hasBody: Bool
            if case .empty = request.body { hasBody = request.method == "PUT" || request.method == "POST" }
            else { hasBody = true }
            if hasBody {
                _ = ccurl_setopt_long(h, CURLOPT_UPLOAD, 1)
                _ = ccurl_setopt_off(h, CURLOPT_INFILESIZE_LARGE, curl_off_t(request.body.length))
                _ = ccurl_setopt_pointer(h, CURLOPT_READDATA, context)
                _ = ccurl_setopt_data_callback(h, CURLOPT_READFUNCTION, readCallback)
                _ = ccurl_setopt_pointer(h, CURLOPT_SEEKDATA, context)
                _ = ccurl_setopt_seek_callback(h, seekCallback)
            }
            if request.method != "PUT" { _ = ccurl_setopt_string(h, CURLOPT_CUSTOMREQUEST, request.method) }
        }
    }

    private static func kind(of code: CURLcode) -> HTTPError.Kind {
        switch code {
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY: return .resolve
        case CURLE_COULDNT_CONNECT: return .connect
        case CURLE_OPERATION_TIMEDOUT: return .timeout
        case CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE,
             CURLE_HTTP2, CURLE_HTTP2_STREAM:
            return .connectionLost
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE,
             CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH:
            return .tls
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL: return .invalidURL
        default: return .other
        }
    }
}

/// The state of one request, reached from libcurl's callbacks through their userdata pointer.
private final class Exchange {
    let body: RequestBody
    let sink: ResponseSink
    var sent: UInt64 = 0
    var written: UInt64 = 0
    var buffer: [UInt8] = []
    var status = 0
    var headers: [(name: String, value: String)] = []
    var localError: String?
    var requestsSent = 0
    var statusIsSuccess: Bool { (200..<300).contains(status) }
    /// Error bodies are small XML or JSON; anything longer is cut here.
    static let errorBodyLimit = 64 * 1024

    init(body: RequestBody, sink: ResponseSink) { self.body = body; self.sink = sink }
}

private let debugCallback: ccurl_debug_callback = { _, type, _, _, userdata in
    if type == CURLINFO_HEADER_OUT, let userdata {
        Unmanaged<Exchange>.fromOpaque(userdata).takeUnretainedValue().requestsSent += 1
    }
    return 0
}

private let headerCallback: ccurl_data_callback = { buffer, size, count, userdata in
    let total = size * count
    guard let buffer, let userdata else { return total }
    let ex = Unmanaged<Exchange>.fromOpaque(userdata).takeUnretainedValue()
    let line = String(decoding: UnsafeRawBufferPointer(start: buffer, count: total), as: UTF8.self)
        .trimmingCharacters(in: [" ", "\r", "\n", "\t"])
    if line.hasPrefix("HTTP/") {
        // A new status line (after a 100 Continue, say): the headers before it were another answer's.
        let parts = line.split(separator: " ", maxSplits: 2)
        ex.status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
        ex.headers.removeAll()
    } else if let colon = line.firstIndex(of: ":") {
        let name = line[..<colon].lowercased()
        let value = line[line.index(after: colon)...].trimmingCharacters(in: [" ", "\t"])
        ex.headers.append((name, value))
    }
    return total
}

private let writeCallback: ccurl_data_callback = { buffer, size, count, userdata in
    let total = size * count
    guard let buffer, let userdata else { return total }
    let ex = Unmanaged<Exchange>.fromOpaque(userdata).takeUnretainedValue()
    let bytes = UnsafeRawBufferPointer(start: buffer, count: total)
    if case .file(let fd, let offset) = ex.sink, ex.statusIsSuccess {
        var done = 0
        while done < total {
            let n = pwrite(fd, bytes.baseAddress! + done, total - done, off_t(offset + ex.written) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                ex.localError = "cannot write the response to its file: \(String(cString: strerror(errno)))"
                return 0
            }
            done += n
        }
    } else {
        if !ex.statusIsSuccess && ex.buffer.count >= Exchange.errorBodyLimit { return total }
        ex.buffer.append(contentsOf: bytes)
    }
    ex.written += UInt64(total)
    return total
}

private let readCallback: ccurl_data_callback = { buffer, size, count, userdata in
    guard let buffer, let userdata else { return 0 }
    let ex = Unmanaged<Exchange>.fromOpaque(userdata).takeUnretainedValue()
    let room = size * count
    switch ex.body {
    case .empty:
        return 0
    case .bytes(let bytes):
        let n = min(room, bytes.count - Int(ex.sent))
        guard n > 0 else { return 0 }
        bytes.withUnsafeBytes { src in
            UnsafeMutableRawPointer(buffer).copyMemory(from: src.baseAddress! + Int(ex.sent), byteCount: n)
        }
        ex.sent += UInt64(n)
        return n
    case .file(let fd, let offset, let length):
        let want = Int(min(UInt64(room), length - ex.sent))
        guard want > 0 else { return 0 }
        while true {
            let n = pread(fd, buffer, want, off_t(offset + ex.sent))
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                ex.localError = n == 0 ? "the file to upload ended early (it was truncated while being sent)"
                                       : "cannot read the file to upload: \(String(cString: strerror(errno)))"
                return Int(CURL_READFUNC_ABORT)
            }
            ex.sent += UInt64(n)
            return n
        }
    }
}

private let seekCallback: ccurl_seek_callback = { userdata, offset, origin in
    guard let userdata, origin == SEEK_SET, offset >= 0 else { return Int32(CURL_SEEKFUNC_CANTSEEK) }
    let ex = Unmanaged<Exchange>.fromOpaque(userdata).takeUnretainedValue()
    guard UInt64(offset) <= ex.body.length else { return Int32(CURL_SEEKFUNC_FAIL) }
    ex.sent = UInt64(offset)
    return Int32(CURL_SEEKFUNC_OK)
}
