// TLS: a real server behind the fault proxy listening with a certificate from a throw-away CA.
// Verification is on by default and refuses, naming the certificate problem; tls_ca= accepts.
import Foundation
import Testing
import ObjectStore
import StoreTestSupport

@Suite("TLS") struct TLSTests {
    static func certificates() throws -> TemporaryFolder {
        let folder = TemporaryFolder("tls")
        let script = URL(fileURLWithPath: FaultProxy.script).deletingLastPathComponent().appendingPathComponent("make-test-ca.sh").path
        let made = try ChildProcess.run("/bin/bash", [script, folder.path], environment: [:])
        try check(made.status == 0, "make-test-ca.sh failed: \(made.stderr)")
        return folder
    }

    @Test(arguments: [StoreAPI.saioS3, .saioSwift]) func verifiedByDefaultAndTrustedWithTLSCA(_ api: StoreAPI) throws {
        guard let server = try TestServers.require(api) else { return }
        let certs = try TLSTests.certificates()
        let container = TestServers.containerName("tls")
        _ = try server.open(container: container)
        let proxy = try FaultProxy(upstream: server.baseURL, tls: (certs.path + "/server.pem", certs.path + "/server.key"))
        var secure = server.through(proxyPort: proxy.port)
        secure = ServerEndpoint(api: api, baseURL: "https://127.0.0.1:\(proxy.port)",
                                options: secure.options.replacingOccurrences(of: "http://127.0.0.1:\(proxy.port)", with: "https://127.0.0.1:\(proxy.port)"),
                                environment: secure.environment)

        // Default: the system's authorities do not know this one.
        let refused = try secure.open(container: container, create: false)
        #expect { try refused.unretried.check() } throws: { error in
            guard let e = error as? StoreError else { return false }
            return e.kind == .tls && e.sentence.contains("tls_ca=") && e.sentence.lowercased().contains("certificate")
        }
        // Another authority: still refused.
        let wrongCA = try secure.open(container: container, extraOptions: "tls_ca=\(certs.path)/other-ca.pem", create: false)
        #expect { try wrongCA.unretried.check() } throws: { ($0 as? StoreError)?.kind == .tls }
        // The right authority: accepted, and data goes through.
        let trusted = try secure.open(container: container, extraOptions: "tls_ca=\(certs.path)/ca.pem", create: false)
        try trusted.store.check()
        _ = try trusted.store.put("over-tls", body: .bytes(randomBytes(70_000, seed: 5)), checksums: .none)
        #expect(try trusted.store.get("over-tls", range: nil, into: .memory).bytes == randomBytes(70_000, seed: 5))
        // Verification off exists only as an explicit option, and warns.
        let unverified = try secure.open(container: container, extraOptions: "tls_verify=no", create: false)
        #expect(unverified.warnings.contains { $0.contains("NOT checked") })
        try unverified.unretried.check()
    }
}
