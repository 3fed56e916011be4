import Testing
@testable import ObjectStore

@Suite struct OptionsTests {
    @Test func parsesTheDesignExample() throws {
        let o = try Options(parsing: "backend=s3,endpoint=http://127.0.0.1:7480,bucket=backups,region=us-east-1,chunksize=64M,cache=/var/cache/chunkvol,cachesize=20G,uploads=8,retries=10,upload=each-chunk")
        #expect(o["backend"] == "s3")
        #expect(o["endpoint"] == "http://127.0.0.1:7480")
        #expect(try o.size("chunksize", default: 0, range: 4096...(5 << 30)) == 64 << 20)
        #expect(try o.size("cachesize", default: 0, range: 0...(1 << 50)) == 20 << 30)
        #expect(try o.integer("uploads", default: 1, range: 1...64) == 8)
        #expect(o.description.hasPrefix("backend=s3,endpoint=http://127.0.0.1:7480,bucket=backups"))
    }

    @Test func ignoresSpacesAndEmptyItems() throws {
        let o = try Options(parsing: " backend = local , , path=/tmp/x ,")
        #expect(o["backend"] == "local")
        #expect(o["path"] == "/tmp/x")
    }

    @Test func unknownKeyNamesItAndSuggests() {
        #expect {
            _ = try Options(parsing: "bucket=b,endpiont=http://x")
        } throws: { error in
            let text = (error as? OptionError)?.sentence ?? ""
            return text.contains("'endpiont'") && text.contains("did you mean endpoint") && text.contains("known options")
        }
    }

    @Test func rejectsDuplicatesAndMissingValues() {
        #expect(throws: OptionError.self) { _ = try Options(parsing: "bucket=a,bucket=b") }
        #expect { _ = try Options(parsing: "bucket") } throws: { ($0 as? OptionError)?.sentence.contains("bucket=VALUE") == true }
    }

    @Test(arguments: [("4K", 4096 as UInt64?), ("64M", 64 << 20), ("5G", 5 << 30), ("1T", 1 << 40), ("4096", 4096),
                      ("64MiB", 64 << 20), ("2kb", 2048), ("x", nil), ("", nil), ("-1M", nil), ("99999999999999999999T", nil)])
    func sizes(_ text: String, _ expected: UInt64?) {
        #expect(Options.parseSize(text) == expected)
    }

    @Test func outOfRangeValuesNameTheRange() throws {
        let o = try Options(parsing: "chunksize=1K,uploads=0,upload=sometimes,tls_verify=maybe")
        #expect { _ = try o.size("chunksize", default: 0, range: 4096...(5 << 30)) } throws: {
            ($0 as? OptionError)?.sentence.contains("from 4K to 5G") == true
        }
        #expect(throws: OptionError.self) { _ = try o.integer("uploads", default: 8, range: 1...64) }
        #expect { _ = try o.choice("upload", ["each-chunk", "on-close", "manual"], default: "each-chunk") } throws: {
            ($0 as? OptionError)?.sentence.contains("each-chunk, on-close, manual") == true
        }
        #expect(throws: OptionError.self) { _ = try o.bool("tls_verify", default: true) }
    }

    @Test func storeStackChoosesTheBackend() throws {
        let local = try StoreStack.open(options: Options(parsing: "path=/tmp/x"), environment: [:])
        #expect(local.backend is LocalStore)
        let s3 = try StoreStack.open(options: Options(parsing: "bucket=abc,endpoint=http://127.0.0.1:1"),
                                     environment: ["AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "s"])
        #expect(s3.backend is S3Store)
        let swift = try StoreStack.open(options: Options(parsing: "container=c"),
                                        environment: ["ST_AUTH": "http://127.0.0.1:1/auth/v1.0", "ST_USER": "a:b", "ST_KEY": "k"])
        #expect(swift.backend is SwiftStore)
        #expect(throws: OptionError.self) { _ = try StoreStack.open(options: Options(parsing: "backend=s3"), environment: [:]) }
        #expect(throws: OptionError.self) {
            _ = try StoreStack.open(options: Options(parsing: "backend=s3,bucket=b,endpoint=ftp://x"),
                                    environment: ["AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "s"])
        }
        #expect { _ = try StoreStack.open(options: Options(parsing: "path=/tmp/x,tls_ca=/nonexistent.pem"), environment: [:]) } throws: {
            ($0 as? OptionError)?.sentence.contains("tls_ca=/nonexistent.pem") == true
        }
    }

    @Test func turningVerificationOffWarns() throws {
        let stack = try StoreStack.open(options: Options(parsing: "path=/tmp/x,tls_verify=no"), environment: [:])
        #expect(stack.warnings.count == 1)
        #expect(stack.warnings.first?.contains("NOT checked") == true)
        #expect(try StoreStack.open(options: Options(parsing: "path=/tmp/x"), environment: [:]).warnings.isEmpty)
    }
}
