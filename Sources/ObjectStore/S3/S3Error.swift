// S3's error documents (<Error><Code>…</Code><Message>…</Message><RequestId>…</RequestId></Error>)
// turned into StoreError, with a plain sentence for the codes an operator meets.
import Platform

struct S3Error {
    var code: String
    var message: String?
    var requestID: String?
    var serverTime: String?
    var endpoint: String?
    var region: String?

    static func parse(_ body: [UInt8]) -> S3Error? {
        guard let doc = XMLElement.parse(body), doc.name == "Error", let code = doc["Code"] else { return nil }
        return S3Error(code: code, message: doc["Message"].flatMap { $0.isEmpty ? nil : $0 },
                       requestID: doc["RequestId"], serverTime: doc["ServerTime"], endpoint: doc["Endpoint"],
                       region: doc["Region"])
    }

    static func kind(code: String, status: Int) -> StoreError.Kind {
        switch code {
        case "NoSuchKey": return .notFound
        case "NoSuchBucket": return .containerNotFound
        case "SignatureDoesNotMatch", "InvalidAccessKeyId", "InvalidToken", "ExpiredToken", "InvalidSecurity": return .badCredentials
        case "AccessDenied", "AllAccessDisabled", "AccountProblem": return .accessDenied
        case "RequestTimeTooSkewed": return .clockSkew
        case "InvalidRange": return .invalidRange
        case "BadDigest", "XAmzContentSHA256Mismatch", "InvalidDigest": return .checksumMismatch
        case "SlowDown", "ServiceUnavailable", "TooManyRequests", "RequestLimitExceeded": return .throttled
        case "InternalError", "OperationAborted": return .serverError
        case "RequestTimeout": return .timeout
        default: return status == 0 ? .invalidRequest : StoreError.kind(forStatus: status)
        }
    }

    /// The answer `r` as a StoreError: from its XML when it has some, else from its status alone
    /// (HEAD answers carry no body).
    static func storeError(_ r: HTTPResponse, key: String?, bucket: String, what: String) -> StoreError {
        let requestID = r.header("x-amz-request-id")
        guard let e = parse(r.body) else {
            var kind = StoreError.kind(forStatus: r.status)
            if r.status == 403 { kind = .accessDenied }
            let sentence: String
            switch r.status {
            case 404: sentence = key.map { "\(what): no object \($0) in bucket \(bucket)" } ?? "\(what): bucket \(bucket) does not exist"
            case 403: sentence = "\(what): the store refused the request (403): the credentials may be wrong or lack permission"
            default: sentence = "\(what) failed with HTTP \(r.status)"
            }
            return StoreError(key == nil && r.status == 404 ? .containerNotFound : kind, sentence,
                              status: r.status, requestID: requestID, key: key)
        }
        let kind = self.kind(code: e.code, status: r.status)
        let sentence: String
        switch e.code {
        case "SignatureDoesNotMatch":
            sentence = "\(what): the secret key does not match the access key; check AWS_SECRET_ACCESS_KEY or the credentials file"
        case "InvalidAccessKeyId":
            sentence = "\(what): the access key ID is not known to the store; check AWS_ACCESS_KEY_ID or the credentials file"
        case "InvalidToken", "ExpiredToken":
            sentence = "\(what): the session token is invalid or has expired; get new temporary credentials"
        case "NoSuchBucket":
            sentence = "\(what): bucket \(bucket) does not exist; create it with `chunkctl store create` or fix bucket="
        case "NoSuchKey":
            sentence = "\(what): no object \(key ?? "") in bucket \(bucket)"
        case "AccessDenied":
            sentence = "\(what): access denied: the credentials are valid but not allowed this operation on bucket \(bucket)"
        case "RequestTimeTooSkewed":
            sentence = "\(what): this machine's clock differs too much from the store's; set the clock (NTP)"
        case "BadDigest", "XAmzContentSHA256Mismatch", "InvalidDigest":
            sentence = "\(what): the bytes the store received do not match their checksum"
        case "InvalidRange":
            sentence = "\(what): the requested range starts past the end of the object"
        case "AuthorizationHeaderMalformed":
            sentence = "\(what): the store rejected the signature's scope" + (e.region.map { "; its region is \($0): set region=\($0)" } ?? "")
        case "BucketAlreadyExists":
            sentence = "\(what): the bucket name \(bucket) is taken by another account; choose another"
        case "SlowDown":
            sentence = "\(what): the store asks for fewer requests (SlowDown)"
        default:
            sentence = "\(what) failed: \(e.code)" + (e.message.map { ": \($0)" } ?? "")
        }
        return StoreError(kind, sentence, status: r.status, code: e.code, message: e.message,
                          requestID: e.requestID ?? requestID, key: key)
    }
}
