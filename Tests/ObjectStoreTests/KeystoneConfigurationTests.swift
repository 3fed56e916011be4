// Keystone v3 without a server: which method the variables choose, the errors naming what is
// missing, the request body, the catalog choice, the renewal time; no secret ever in text.
import Foundation
import Testing
@testable import ObjectStore

@Suite struct KeystoneConfigurationTests {
    let secret = "s3cr3t-\(UUID().uuidString.prefix(6))"
    var openrc: [String: String] {
        ["OS_AUTH_URL": "http://ks:5000/v3/", "OS_USERNAME": "tester", "OS_PASSWORD": secret, "OS_PROJECT_NAME": "test",
         "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default"]
    }

    func method(_ options: String, _ env: [String: String]) throws -> SwiftAuthMethod {
        try SwiftAuthMethod.choose(options: Options(parsing: options), environment: env)
    }

    @Test func methodChosenFromOptionsThenVariables() throws {
        #expect(try method("", openrc) == .keystone)
        #expect(try method("", ["ST_AUTH": "http://s/auth/v1.0", "ST_USER": "a:b", "ST_KEY": "k"]) == .tempauth)
        // ST_* win, as with python-swiftclient; an explicit endpoint or auth= wins over both.
        #expect(try method("", openrc.merging(["ST_USER": "a:b"]) { a, _ in a }) == .tempauth)
        #expect(try method("endpoint=http://ks:5000/v3", ["ST_USER": "a:b"]) == .keystone)
        #expect(try method("endpoint=http://s:8080/auth/v1.0", openrc) == .tempauth)
        #expect(try method("auth=keystone", [:]) == .keystone)
        #expect(try method("auth=tempauth", openrc) == .tempauth)
        #expect(try method("", ["OS_APPLICATION_CREDENTIAL_ID": "x"]) == .keystone)
        #expect(try method("", [:]) == .tempauth)
        #expect { try method("auth=ldap", [:]) } throws: { "\($0)".contains("tempauth, keystone") }
    }

    @Test func passwordSettingsFromTheEnvironment() throws {
        let a = try CredentialSource.keystone(options: Options(parsing: "region=R2,interface=internalURL"), environment: openrc)
        #expect(a.authURL == "http://ks:5000/v3")
        #expect(a.project == .name("test", domain: .name("Default")))
        #expect(a.interface == "internal" && a.region == "R2" && a.storageURL == nil)
        guard case .password(let user, let password) = a.identity else { Issue.record("password method expected"); return }
        #expect(user == .name("tester", domain: .name("Default")) && password.reveal() == secret)
        #expect(!a.name.contains(secret) && !"\(a)".contains(secret) && !String(reflecting: a).contains(secret))

        let ids = try CredentialSource.keystone(options: Options(), environment: [
            "OS_AUTH_URL": "http://ks:5000", "OS_USER_ID": "u1", "OS_PASSWORD": "p", "OS_PROJECT_ID": "p1",
            "OS_STORAGE_URL": "http://s/v1/AUTH_p1", "OS_REGION_NAME": "R1", "OS_INTERFACE": "admin"])
        #expect(ids.authURL == "http://ks:5000/v3" && ids.project == .id("p1") && ids.storageURL == "http://s/v1/AUTH_p1")
        #expect(ids.region == "R1" && ids.interface == "admin")
        let fromOptions = try CredentialSource.keystone(options: Options(parsing: "endpoint=http://o/identity,storage_url=http://x/v1/A"),
                                                        environment: openrc)
        #expect(fromOptions.authURL == "http://o/identity/v3" && fromOptions.storageURL == "http://x/v1/A")
    }

    @Test func missingSettingsAreNamed() throws {
        func error(_ env: [String: String], _ options: String = "") -> String {
            do { _ = try CredentialSource.keystone(options: Options(parsing: options), environment: env); return "no error" } catch {
                return "\(error)"
            }
        }
        func without(_ names: String...) -> [String: String] { openrc.filter { !names.contains($0.key) } }
        #expect(error(without("OS_AUTH_URL")).contains("set OS_AUTH_URL or give endpoint="))
        #expect(error(without("OS_USERNAME")).contains("no Keystone user: set OS_USERNAME"))
        #expect(error(without("OS_USER_DOMAIN_NAME")).contains("set OS_USER_DOMAIN_NAME"))
        #expect(error(without("OS_PASSWORD")).contains("set OS_PASSWORD"))
        #expect(error(without("OS_PROJECT_NAME")).contains("no Keystone project: set OS_PROJECT_NAME"))
        #expect(error(without("OS_PROJECT_DOMAIN_NAME")).contains("set OS_PROJECT_DOMAIN_NAME"))
        #expect(error(["OS_AUTH_URL": "http://k/v3", "OS_APPLICATION_CREDENTIAL_ID": "i"]).contains("OS_APPLICATION_CREDENTIAL_SECRET"))
        #expect(error(["OS_AUTH_URL": "http://k/v3", "OS_APPLICATION_CREDENTIAL_NAME": "n", "OS_APPLICATION_CREDENTIAL_SECRET": "s"])
            .contains("needs its user"))
        #expect(error(openrc, "interface=private").contains("public, internal, admin"))
        #expect(error(openrc.merging(["OS_AUTH_TYPE": "v3token"]) { _, b in b }).contains("OS_AUTH_TYPE=v3token is not supported"))
        #expect(error(openrc.merging(["OS_AUTH_TYPE": "v3applicationcredential"]) { _, b in b }).contains("OS_APPLICATION_CREDENTIAL_ID"))
        // An openrc with both: OS_AUTH_TYPE decides.
        let both = openrc.merging(["OS_APPLICATION_CREDENTIAL_ID": "ac", "OS_APPLICATION_CREDENTIAL_SECRET": "x"]) { _, b in b }
        let byType = try CredentialSource.keystone(options: Options(), environment: both.merging(["OS_AUTH_TYPE": "password"]) { _, b in b })
        if case .password = byType.identity {} else { Issue.record("OS_AUTH_TYPE=password chooses the password method") }
        if case .applicationCredential = try CredentialSource.keystone(options: Options(), environment: both).identity {} else {
            Issue.record("an application credential's variables choose that method")
        }
        #expect(error(openrc.merging(["OS_AUTH_URL": "http://k:5000/v2.0"]) { _, b in b }).contains("v2.0"))
        #expect(!error(without("OS_PROJECT_NAME")).contains(secret))
    }

    @Test func credentialsFileHoldsTheSameNames() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ks-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("creds").path
        try "[default]\nos_auth_url = http://f:5000/v3\nos_application_credential_id = ac1\nos_application_credential_secret = \(secret)\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        let options = try Options(parsing: "credentials=\(path)")
        #expect(try SwiftAuthMethod.choose(options: options, environment: [:]) == .keystone)
        let a = try CredentialSource.keystone(options: options, environment: [:])
        guard case .applicationCredential(let id, _, _, let s) = a.identity else { Issue.record("application credential expected"); return }
        #expect(id == "ac1" && s.reveal() == secret && a.project == nil)
    }

    @Test func requestBodies() throws {
        func body(_ a: KeystoneAuth, scoped: Bool = true) throws -> [String: Any] {
            try JSONSerialization.jsonObject(with: Data(try a.requestBody(scoped: scoped))) as! [String: Any]
        }
        let byName = try CredentialSource.keystone(options: Options(), environment: openrc)
        let auth = try body(byName)["auth"] as! [String: Any]
        let identity = auth["identity"] as! [String: Any]
        #expect(identity["methods"] as? [String] == ["password"])
        let user = (identity["password"] as! [String: Any])["user"] as! [String: Any]
        #expect(user["name"] as? String == "tester" && user["password"] as? String == secret)
        #expect((user["domain"] as? [String: String]) == ["name": "Default"])
        let project = (auth["scope"] as! [String: Any])["project"] as! [String: Any]
        #expect(project["name"] as? String == "test" && (project["domain"] as? [String: String]) == ["name": "Default"])
        #expect((try body(byName, scoped: false)["auth"] as! [String: Any])["scope"] == nil)

        let ac = KeystoneAuth(authURL: "http://k/v3", identity: .applicationCredential(id: nil, name: "n", user: .id("u1"), secret: Secret("s")),
                              project: .id("ignored"))
        let acAuth = try body(ac)["auth"] as! [String: Any]
        let acIdentity = acAuth["identity"] as! [String: Any]
        #expect(acIdentity["methods"] as? [String] == ["application_credential"])
        let c = acIdentity["application_credential"] as! [String: Any]
        #expect(c["name"] as? String == "n" && c["secret"] as? String == "s" && (c["user"] as? [String: String]) == ["id": "u1"])
        #expect(acAuth["scope"] == nil, "an application credential carries its own scope")
    }

    @Test func catalogChoice() throws {
        func e(_ i: String, _ r: String?, _ u: String) -> KeystoneCatalog.Endpoint {
            .init(interface: i, region: r, region_id: r, url: u)
        }
        let catalog = KeystoneCatalog(services: [
            .init(type: "identity", name: "keystone", endpoints: [e("public", "R1", "http://k")]),
            .init(type: "object-store", name: "swift", endpoints: [
                e("public", "R1", "http://s1/v1/AUTH_p"), e("internal", "R1", "http://i1/v1/AUTH_p"),
                e("public", "R2", "http://s2/v1/AUTH_p")]),
        ])
        #expect(try catalog.endpoint(type: "object-store", interface: "public", region: "R2") == "http://s2/v1/AUTH_p")
        #expect(try catalog.endpoint(type: "object-store", interface: "internal", region: nil) == "http://i1/v1/AUTH_p")
        #expect { try catalog.endpoint(type: "object-store", interface: "public", region: nil) } throws: {
            "\($0)".contains("several regions (R1, R2): set OS_REGION_NAME")
        }
        #expect { try catalog.endpoint(type: "object-store", interface: "admin", region: "R1") } throws: {
            "\($0)".contains("no admin endpoint") && "\($0)".contains("internal, public")
        }
        #expect { try KeystoneCatalog(services: []).endpoint(type: "object-store", interface: "public", region: nil) } throws: {
            "\($0)".contains("OS_STORAGE_URL")
        }
    }

    @Test func renewalTimeFollowsTheLifetimeNotTheClock() throws {
        let now = Date(timeIntervalSince1970: 1_000_000)
        // An hour's token from a Keystone whose clock is a day ahead: renewed 58 minutes from now.
        let hour = KeystoneAuth.renewalTime(issued: "1970-01-13T13:46:40.000000Z", expires: "1970-01-13T14:46:40.000000Z", now: now)
        #expect(hour == now.addingTimeInterval(3600 - 120))
        let short = KeystoneAuth.renewalTime(issued: "2026-01-01T00:00:00.000000Z", expires: "2026-01-01T00:00:15.000000Z", now: now)
        #expect(short == now.addingTimeInterval(12))
        #expect(KeystoneAuth.renewalTime(issued: nil, expires: nil, now: now) == nil)
        #expect(SwiftSession(token: Secret("t"), storageURL: "u", renewAt: now).isDue(at: now))
        #expect(!SwiftSession(token: Secret("t"), storageURL: "u").isDue())
    }
}
