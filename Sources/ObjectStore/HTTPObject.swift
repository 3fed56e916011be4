// What the two HTTP backends share about GET: the sink, the Range header, and turning a
// successful answer into a GetResult (a body shorter than its Content-Length is an error, never data).
import Platform

extension ObjectSink {
    var responseSink: ResponseSink {
        switch self {
        case .memory: return .buffer
        case .file(let fd, let offset): return .file(descriptor: fd, offset: offset)
        }
    }
}

enum HTTPObject {
    static func rangeHeaders(_ range: ByteRange?) -> [(name: String, value: String)] {
        range.map { [("Range", "bytes=\($0.first)-\($0.last)")] } ?? []
    }

    static func unquote(_ etag: String) -> String { etag.trimmingCharacters(in: ["\""]) }

    /// The object's total size: from Content-Range (bytes 0-99/1234) on a ranged answer.
    static func totalSize(_ r: HTTPResponse) -> UInt64? {
        guard let range = r.header("content-range"), let slash = range.lastIndex(of: "/") else { return nil }
        return UInt64(range[range.index(after: slash)...])
    }

    static func result(_ r: HTTPResponse, key: String, sink: ObjectSink, what: String) throws -> GetResult {
        if let expected = r.header("content-length").flatMap(UInt64.init), expected != r.bodyLength {
            throw StoreError(.connectionLost, "\(what) ended after \(r.bodyLength) of \(expected) bytes", key: key)
        }
        let info = ObjectInfo(key: key, size: totalSize(r) ?? r.bodyLength, etag: r.header("etag").map(unquote))
        if case .memory = sink { return GetResult(info: info, bytes: r.body, length: r.bodyLength) }
        return GetResult(info: info, bytes: [], length: r.bodyLength)
    }
}
