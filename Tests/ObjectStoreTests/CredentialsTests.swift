import Foundation
import Testing
@testable import ObjectStore
import StoreTestSupport

@Suite struct CredentialsTests {
    let secret = "SECRET-0123456789-abcdefghij"

    @Test func environmentKeys() throws {
        let c = try CredentialSource.aws(options: Options(), environment: [
            "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": secret, "AWS_SESSION_TOKEN": "TOKEN"])
        #expect(c.accessKeyID == "AKID")
        #expect(c.secretAccessKey.reveal() == secret)
        #expect(c.sessionToken?.reveal() == "TOKEN")
    }

    @Test func sharedFileWithProfiles() throws {
        let folder = TemporaryFolder()
        let path = try folder.file("credentials", Array("""
        # comment
        [default]
        aws_access_key_id = DEFAULTID
        aws_secret_access_key = defaultsecret

        [profile backup]
        aws_access_key_id=BACKUPID
        aws_secret_access_key=\(secret)
        aws_session_token = tok
        """.utf8))
        let env = ["AWS_SHARED_CREDENTIALS_FILE": path]
        #expect(try CredentialSource.aws(options: Options(), environment: env).accessKeyID == "DEFAULTID")
        #expect(try CredentialSource.aws(options: Options(), environment: env.merging(["AWS_PROFILE": "backup"]) { a, _ in a }).accessKeyID == "BACKUPID")
        let viaOption = try CredentialSource.aws(options: Options(parsing: "profile=backup"), environment: env)
        #expect(viaOption.secretAccessKey.reveal() == secret)
        #expect(viaOption.sessionToken?.reveal() == "tok")
        // An explicit profile= wins over keys in the environment.
        let both = try CredentialSource.aws(options: Options(parsing: "profile=backup"),
                                            environment: env.merging(["AWS_ACCESS_KEY_ID": "ENV", "AWS_SECRET_ACCESS_KEY": "x"]) { a, _ in a })
        #expect(both.accessKeyID == "BACKUPID")
        // A named file: credentials=.
        #expect(try CredentialSource.aws(options: Options(parsing: "credentials=\(path)"), environment: [:]).accessKeyID == "DEFAULTID")
        #expect { _ = try CredentialSource.aws(options: Options(parsing: "profile=nope"), environment: env) } throws: {
            let s = ($0 as? OptionError)?.sentence ?? ""
            return s.contains("'nope'") && s.contains("backup") && !s.contains(secret)
        }
    }

    @Test func clearErrorsWithoutSecrets() throws {
        let folder = TemporaryFolder()
        let bad = try folder.file("bad", Array("[default]\nthis line has \(secret) and no equals\n".utf8))
        #expect { _ = try CredentialSource.aws(options: Options(parsing: "credentials=\(bad)"), environment: [:]) } throws: {
            let s = ($0 as? OptionError)?.sentence ?? ""
            return s.contains("line 2") && !s.contains(secret)
        }
        #expect { _ = try CredentialSource.aws(options: Options(), environment: ["AWS_ACCESS_KEY_ID": "x", "HOME": folder.path]) } throws: {
            ($0 as? OptionError)?.sentence.contains("AWS_SECRET_ACCESS_KEY") == true
        }
        #expect { _ = try CredentialSource.aws(options: Options(), environment: ["HOME": folder.path]) } throws: {
            ($0 as? OptionError)?.sentence.contains("no S3 credentials") == true
        }
        #expect { _ = try CredentialSource.swift(options: Options(), environment: ["ST_AUTH": "http://x", "ST_USER": "a:b"]) } throws: {
            ($0 as? OptionError)?.sentence.contains("ST_KEY") == true
        }
    }

    @Test func swiftFromEnvironmentAndFile() throws {
        let c = try CredentialSource.swift(options: Options(), environment: ["ST_AUTH": "http://a/auth/v1.0", "ST_USER": "t:u", "ST_KEY": secret])
        #expect(c.authURL == "http://a/auth/v1.0" && c.user == "t:u" && c.key.reveal() == secret)
        let folder = TemporaryFolder()
        let path = try folder.file("creds", Array("[default]\nst_user = f:u\nst_key = fk\nst_auth = http://f/auth/v1.0\n".utf8))
        let f = try CredentialSource.swift(options: Options(parsing: "credentials=\(path)"), environment: ["ST_USER": "env:u"])
        #expect(f.user == "f:u" && f.authURL == "http://f/auth/v1.0")
        // endpoint= names the auth URL and wins.
        let e = try CredentialSource.swift(options: Options(parsing: "endpoint=http://o/auth/v1.0"), environment: ["ST_AUTH": "http://a", "ST_USER": "u", "ST_KEY": "k"])
        #expect(e.authURL == "http://o/auth/v1.0")
    }

    @Test func secretsNeverPrint() {
        let creds = AWSCredentials(accessKeyID: "AKID", secretAccessKey: Secret(secret), sessionToken: Secret("tokentoken"))
        var dumped = ""
        dump(creds, to: &dumped)
        for text in [String(describing: creds), String(reflecting: creds), "\(creds)", dumped] {
            #expect(!text.contains(secret))
            #expect(!text.contains("tokentoken"))
        }
    }
}
