// How the S3 backend addresses and signs, without a server: presigned URLs are built, not sent.
import Foundation
import Testing
@testable import ObjectStore
import Platform

@Suite struct S3RequestTests {
    func store(_ options: String) throws -> S3Store {
        let config = try S3Configuration(options: Options(parsing: options),
                                         environment: ["AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"])
        return S3Store(configuration: config, http: HTTPClient(),
                       clock: { Date(timeIntervalSince1970: 1_440_938_160) })  // 2015-08-30T12:36:00Z
    }

    @Test func pathStyleKeepsTheBucketInThePath() throws {
        let url = try store("endpoint=http://127.0.0.1:7480,bucket=bk1").presignedURL("a b/ü+&", expires: 60)
        #expect(url.hasPrefix("http://127.0.0.1:7480/bk1/a%20b/%C3%BC%2B%26?X-Amz-Algorithm=AWS4-HMAC-SHA256&"))
        #expect(url.contains("X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fs3%2Faws4_request"))
        #expect(url.contains("X-Amz-Expires=60"))
    }

    @Test func virtualHostedPutsTheBucketInTheHost() throws {
        let url = try store("endpoint=https://s3.eu-west-1.amazonaws.com,bucket=bk1,addressing=virtual,region=eu-west-1")
            .presignedURL("k/0000", expires: 60)
        #expect(url.hasPrefix("https://bk1.s3.eu-west-1.amazonaws.com/k/0000?"))
        #expect(url.contains("%2Feu-west-1%2Fs3%2F"))
    }

    @Test func keysAreNotNormalised() throws {
        let url = try store("endpoint=http://h:1,bucket=bk1").presignedURL("a/../b/./c//d", expires: 60)
        #expect(url.hasPrefix("http://h:1/bk1/a/../b/./c//d?"))
    }

    @Test func defaultEndpointFollowsTheRegion() throws {
        let s = try store("bucket=bk1,region=ap-south-1")
        #expect(s.configuration.endpoint.description == "https://s3.ap-south-1.amazonaws.com")
        #expect(Endpoint(scheme: "https", host: "h", port: 443).hostHeader == "h")
        #expect(Endpoint(scheme: "http", host: "h", port: 8080).hostHeader == "h:8080")
    }

    @Test func badBucketNamesAreRefused() {
        for bad in ["ab", "-abc", "abc-", String(repeating: "a", count: 64), "a b", "a/b"] {
            #expect(throws: OptionError.self, "\(bad)") { _ = try store("bucket=\(bad)") }
        }
    }

    @Test func errorDocumentsBecomeTypedErrors() {
        func answer(_ status: Int, _ xml: String) -> StoreError {
            S3Error.storeError(HTTPResponse(status: status, headers: [], body: Array(xml.utf8), bodyLength: 0, bytesSent: 0, requestsSent: 1),
                               key: "k", bucket: "bk1", what: "upload of k")
        }
        let wrong = answer(403, "<Error><Code>SignatureDoesNotMatch</Code><Message></Message><RequestId>r1</RequestId></Error>")
        #expect(wrong.kind == .badCredentials && wrong.sentence.contains("secret key does not match") && wrong.requestID == "r1")
        #expect(answer(403, "<Error><Code>InvalidAccessKeyId</Code></Error>").sentence.contains("access key ID is not known"))
        #expect(answer(404, "<Error><Code>NoSuchBucket</Code></Error>").kind == .containerNotFound)
        #expect(answer(403, "<Error><Code>AccessDenied</Code></Error>").kind == .accessDenied)
        #expect(answer(503, "<Error><Code>SlowDown</Code></Error>").isTransient)
        #expect(answer(403, "<Error><Code>RequestTimeTooSkewed</Code></Error>").sentence.contains("clock"))
        #expect(answer(400, "<Error><Code>BadDigest</Code></Error>").kind == .checksumMismatch)
        // A HEAD has no body: the status alone decides.
        #expect(answer(404, "").kind == .notFound)
        #expect(answer(500, "").isTransient)
    }
}
