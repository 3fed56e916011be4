// TLS through a real terminator: Debian's stunnel4, with a certificate from a throw-away CA
// (Tests/tools/make-test-ca.sh), in front of the Swift all-in-one's S3 API. chunkctl refuses it by
// default, naming the certificate problem (exit 3); trusts it with tls_ca= (store verbs and a volume
// written, evicted and read back); refuses it with another CA; and accepts it with tls_verify=no
// only as an explicit option, warning on standard error on every run.
// (S3 only: Swift's auth answers with a plain-HTTP storage URL that stunnel does not rewrite.)
import Foundation
import Testing
import ObjectStore
import Platform
import StoreTestSupport

/// stunnel4 listening with TLS on a free port of 127.0.0.1, forwarding to `upstream` (host:port).
final class Stunnel: @unchecked Sendable {
    let port: Int
    private let pid: pid_t
    private let folder: TemporaryFolder
    let logFile: String

    static var binary: String? {
        ["/usr/bin/stunnel4", "/usr/bin/stunnel", "/usr/sbin/stunnel4", "/usr/sbin/stunnel"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// nil (with a SKIP line) when stunnel is not installed outside CI; under CI a missing stunnel fails.
    static func require() throws -> String? {
        if let b = binary { return b }
        let how = "install it with `apt-get install stunnel4` (.ci/setup does)"
        if TestServers.isCI { throw CheckFailure("stunnel4 is not installed under CI=true: \(how)") }
        print("SKIP: stunnel4 not installed; \(how)")
        return nil
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw CheckFailure("no free port: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    init(binary: String, upstream: String, certificate: String, key: String) throws {
        folder = TemporaryFolder("stunnel")
        logFile = folder.path + "/stunnel.log"
        var started: (pid_t, Int)? = nil
        var lastLog = ""
        for _ in 0..<3 where started == nil {   // another process may take the port between look and bind
            let port = try Stunnel.freePort()
            let config = """
                foreground = yes
                pid =
                debug = notice
                [chunkvol-test]
                accept = 127.0.0.1:\(port)
                connect = \(upstream)
                cert = \(certificate)
                key = \(key)

                """
            let conf = try folder.file("stunnel.conf", Array(config.utf8))
            let pid = try ChildProcess.spawn(binary, [conf], environment: [:], stderr: logFile)
            let deadline = Date().addingTimeInterval(10)
            var listening = false
            while Date() < deadline {
                if TestServers.canConnect(port: port) { listening = true; break }
                if waitpid(pid, nil, WNOHANG) == pid { break }
                usleep(50_000)
            }
            lastLog = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
            if listening { started = (pid, port) } else { kill(pid, SIGKILL); _ = waitpid(pid, nil, 0) }
        }
        guard let started else { throw CheckFailure("stunnel did not start: \(lastLog)") }
        (pid, port) = started
    }

    func stop() {
        guard kill(pid, SIGTERM) == 0 else { return }
        for _ in 0..<100 where waitpid(pid, nil, WNOHANG) == 0 { usleep(50_000) }
        kill(pid, SIGKILL)
        _ = waitpid(pid, nil, WNOHANG)
    }

    deinit { stop() }
}

@Suite("TLS through stunnel") struct StunnelTLSTests {
    @Test func refusedByDefaultTrustedWithTLSCAWarnedWithoutVerification() throws {
        guard let server = try TestServers.require(.saioS3), let binary = try Stunnel.require() else { return }
        let certs = try TLSTests.certificates()
        let upstream = try #require(URLComponents(string: server.baseURL)).port.map { "127.0.0.1:\($0)" } ?? "127.0.0.1:8080"
        let tunnel = try Stunnel(binary: binary, upstream: upstream, certificate: certs.path + "/server.pem", key: certs.path + "/server.key")
        defer { tunnel.stop() }
        let bucket = TestServers.containerName("stunnel")
        let folder = TemporaryFolder("stunnel-cli")
        let base = server.options.replacingOccurrences(of: server.baseURL, with: "https://127.0.0.1:\(tunnel.port)")
            + ",bucket=\(bucket),cache=\(folder.path)/cache,chunksize=64K,connect_timeout=5"
        #expect(base.contains("endpoint=https://127.0.0.1:\(tunnel.port)"), "\(base)")
        func chunkctl(_ extra: String, _ args: [String]) throws -> ChildResult {
            try ChildProcess.chunkctl(["-o", base + extra] + args, environment: server.environment)
        }

        // Default: the system's authorities do not know the test CA.
        let refused = try chunkctl("", ["store", "check"])
        #expect(refused.status == 3, "exit \(refused.status): \(refused.stderr)")
        #expect(refused.stderr.contains("certificate") && refused.stderr.contains("tls_ca="), "names the certificate problem: \(refused.stderr)")
        #expect(refused.stdout.isEmpty)
        print("stunnel TLS, default verification: exit \(refused.status): \(refused.stderr)")
        let refusedImport = try chunkctl("", ["import", "Tls-0001", try folder.file("tiny", [1, 2, 3])])
        #expect(refusedImport.status == 3 && refusedImport.stderr.contains("certificate"), "\(refusedImport.status) \(refusedImport.stderr)")
        // Another authority: refused too.
        let wrong = try chunkctl(",tls_ca=\(certs.path)/other-ca.pem", ["store", "check"])
        #expect(wrong.status == 3 && wrong.stderr.contains("certificate"), "\(wrong.status) \(wrong.stderr)")

        // tls_ca= names the authority: store verbs work, and none of them warns.
        let ca = ",tls_ca=\(certs.path)/ca.pem"
        let created = try chunkctl(ca, ["store", "create"])
        #expect(created.status == 0, "\(created.stderr)")
        #expect(try chunkctl(ca, ["store", "check"]).status == 0)
        let object = randomBytes(150_000, seed: 11)
        let put = try chunkctl(ca, ["store", "put", "tls/object", try folder.file("object", object)])
        #expect(put.status == 0 && put.stderr.isEmpty, "\(put.status) \(put.stderr)")
        let got = try chunkctl(ca, ["store", "get", "tls/object", "-"])
        #expect(got.status == 0 && got.output == object, "\(got.status) \(got.stderr)")
        #expect(try chunkctl(ca, ["store", "ls", "tls/"]).stdout.hasPrefix("tls/object"))
        #expect(try chunkctl(ca, ["store", "rm", "tls/object"]).status == 0)

        // A volume round trip over TLS: imported, evicted, exported from the store.
        let volume = randomBytes(5 * 65_536 + 777, seed: 12)
        let imported = try chunkctl(ca, ["import", "Tls-0001", try folder.file("volume", volume)])
        #expect(imported.status == 0 && imported.stderr.isEmpty, "\(imported.status) \(imported.stderr)")
        #expect(try chunkctl(ca, ["evict", "Tls-0001"]).status == 0)
        let exported = try chunkctl(ca, ["export", "Tls-0001", "-"])
        #expect(exported.status == 0 && exported.output == volume, "export: \(exported.status) \(exported.stderr)")
        #expect(try chunkctl(ca, ["verify", "Tls-0001", "--data"]).status == 0)

        // tls_verify=no: accepted, and every run warns on standard error (two separate processes).
        for run in 1...2 {
            let r = try chunkctl(",tls_verify=no", run == 1 ? ["store", "check"] : ["export", "Tls-0001", "-"])
            #expect(r.status == 0, "run \(run): \(r.status) \(r.stderr)")
            #expect(r.stderr.contains("chunkctl: warning: tls_verify=no: the store's certificate is NOT checked"), "run \(run) warns: \(r.stderr)")
            #expect(!r.stdout.contains("warning"), "the warning is on standard error only")
            if run == 2 { #expect(r.output == volume) }
        }
        // tls_verify=yes is the default spelled out: still refused.
        #expect(try chunkctl(",tls_verify=yes", ["store", "check"]).status == 3)
        // A bad tls_verify value is a usage error.
        #expect(try chunkctl(",tls_verify=maybe", ["store", "check"]).status == 2)

        #expect(try chunkctl(ca, ["rm", "Tls-0001"]).status == 0)
        let raw = try server.open(container: bucket, create: false).store
        _ = try? raw.delete(keys: try raw.listAll(prefix: "").map(\.key))
        tunnel.stop()
        let log = (try? String(contentsOfFile: tunnel.logFile, encoding: .utf8)) ?? ""
        #expect(log.contains("accepted connection") || log.contains("Service [chunkvol-test]"), "the requests went through stunnel: \(log.suffix(500))")
    }
}
