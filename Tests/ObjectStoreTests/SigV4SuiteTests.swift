// The AWS Signature Version 4 test suite: every case folder in SIGV4_SUITE_DIR (default
// ../shared/aws-sigv4-suite beside the checkout), signed in header and query modes; the canonical
// request, the string to sign and the signature must equal the suite's files byte for byte.
import Foundation
import Testing
@testable import ObjectStore
import Platform

struct SigV4Case: Sendable, CustomTestStringConvertible {
    let name: String
    let folder: URL
    var testDescription: String { name }

    static var suiteDirectory: URL {
        if let dir = ProcessInfo.processInfo.environment["SIGV4_SUITE_DIR"], !dir.isEmpty {
            return URL(fileURLWithPath: dir)
        }
        // Tests/ObjectStoreTests/this file -> checkout -> ../shared/aws-sigv4-suite
        let checkout = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        return checkout.deletingLastPathComponent().appendingPathComponent("shared/aws-sigv4-suite")
    }

    static func all() -> [SigV4Case] {
        let dir = suiteDirectory
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.sorted().compactMap { name in
            let folder = dir.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: folder.appendingPathComponent("request.txt").path) else { return nil }
            return SigV4Case(name: name, folder: folder)
        }
    }

    func file(_ name: String) throws -> String {
        try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
    }

    struct Context: Decodable {
        struct Credentials: Decodable { let access_key_id: String; let secret_access_key: String; let token: String? }
        let credentials: Credentials
        let expiration_in_seconds: Int?
        let normalize: Bool
        let region: String
        let service: String
        let sign_body: Bool
        let timestamp: String
        let omit_session_token: Bool?
    }

    /// request.txt: "METHOD PATH HTTP/1.1", header lines (indented lines continue the previous
    /// value), a blank line, the body.
    func request() throws -> (method: String, path: String, query: [(name: String, value: String)],
                              headers: [(name: String, value: String)], body: [UInt8]) {
        let text = try file("request.txt")
        let (head, body): (Substring, Substring)
        if let r = text.range(of: "\n\n") { (head, body) = (text[..<r.lowerBound], text[r.upperBound...]) }
        else { (head, body) = (text[...], "") }
        var lines = head.split(separator: "\n", omittingEmptySubsequences: false)
        let requestLine = lines.removeFirst()
        let method = String(requestLine[..<requestLine.firstIndex(of: " ")!])
        var target = requestLine[requestLine.index(after: requestLine.firstIndex(of: " ")!)...]
        if let v = target.range(of: " HTTP/", options: .backwards) { target = target[..<v.lowerBound] }
        var path = target
        var query: [(name: String, value: String)] = []
        if let q = target.firstIndex(of: "?") {
            path = target[..<q]
            for pair in target[target.index(after: q)...].split(separator: "&") {
                if let eq = pair.firstIndex(of: "=") {
                    query.append((SigV4Signer.percentDecode(pair[..<eq]),
                                  SigV4Signer.percentDecode(pair[pair.index(after: eq)...])))
                } else { query.append((SigV4Signer.percentDecode(pair), "")) }
            }
        }
        var headers: [(name: String, value: String)] = []
        for line in lines where !line.isEmpty {
            if line.first == " " || line.first == "\t" {
                headers[headers.count - 1].value += "\n" + line
            } else if let colon = line.firstIndex(of: ":") {
                headers.append((String(line[..<colon]), String(line[line.index(after: colon)...])))
            }
        }
        return (method, String(path), query, headers, Array(body.utf8))
    }

    func sign(query: Bool) throws -> SigV4Signer.Signed {
        let context = try JSONDecoder().decode(Context.self, from: Data(contentsOf: folder.appendingPathComponent("context.json")))
        let r = try request()
        let credentials = AWSCredentials(accessKeyID: context.credentials.access_key_id,
                                         secretAccessKey: Secret(context.credentials.secret_access_key),
                                         sessionToken: context.credentials.token.map(Secret.init))
        let signer = SigV4Signer(credentials: credentials, region: context.region, service: context.service)
        let date = ISO8601DateFormatter().date(from: context.timestamp)!
        let placement: SigV4Signer.Placement = query ? .query(expires: context.expiration_in_seconds ?? 3600)
                                                      : .headers(signPayloadHeader: context.sign_body)
        return signer.sign(.init(method: r.method, path: r.path, query: r.query, headers: r.headers,
                                 payloadHash: Digest.sha256(r.body).hex),
                           date: date, placement: placement, normalizePath: context.normalize,
                           omitSessionToken: context.omit_session_token ?? false)
    }
}

@Suite("SigV4Suite") struct SigV4Suite {
    @Test("the suite folder holds cases")
    func suiteFolderHasCases() {
        let cases = SigV4Case.all()
        #expect(!cases.isEmpty, "no SigV4 cases in \(SigV4Case.suiteDirectory.path): set SIGV4_SUITE_DIR")
    }

    @Test("header signing", arguments: SigV4Case.all())
    func header(_ c: SigV4Case) throws {
        let signed = try c.sign(query: false)
        #expect(signed.canonicalRequest == (try c.file("header-canonical-request.txt")))
        #expect(signed.stringToSign == (try c.file("header-string-to-sign.txt")))
        #expect(signed.signature == (try c.file("header-signature.txt")).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    @Test("query (presigned) signing", arguments: SigV4Case.all())
    func query(_ c: SigV4Case) throws {
        let signed = try c.sign(query: true)
        #expect(signed.canonicalRequest == (try c.file("query-canonical-request.txt")))
        #expect(signed.stringToSign == (try c.file("query-string-to-sign.txt")))
        #expect(signed.signature == (try c.file("query-signature.txt")).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
