// Malformed input gets a clear error and exit 2 (Spec/exit-codes.md), before anything is sent or
// written: option strings, volume names (through chunkctl, and a NUL through the Swift API, since
// argv cannot carry one), store keys, price tables. And the cache is private whatever the umask: a
// chunkctl run with umask 000 leaves folders 0700 and files 0600, SQLite's -wal and -shm included.
// (Cases already covered elsewhere are not repeated: an unknown option in ChunkctlStoreTests, `../x`
// in ChunkctlVolumeTests, the price table's unknown names and bad numbers in ChunkctlVerbTests.)
import Foundation
import Testing
import StoreTestSupport
import ObjectStore
import Chunkvol

@Suite struct InputValidationTests {
    func run(_ args: [String], _ env: [String: String] = [:]) throws -> ChildResult { try ChildProcess.chunkctl(args, environment: env) }

    @Test func malformedOptionStringsAreUsageErrorsNamingTheKey() throws {
        let folder = TemporaryFolder("opts")
        let local = "backend=local,path=\(folder.path)/store,cache=\(folder.path)/cache"
        #expect(try run(["-o", local, "store", "create"]).status == 0)
        let cases: [(String, String)] = [
            ("endpiont=http://x", "unknown option 'endpiont' (did you mean endpoint?)"),
            ("path=/a,PATH=/b", "option 'path' is given twice"),
            ("backend", "option 'backend' has no value: write it as backend=VALUE"),
            ("backend=ftp", "option backend=ftp is not one of: s3, swift, local"),
            ("retries=101", "option retries=101 must be a whole number from 0 to 100"),
            ("io_timeout=0", "option io_timeout=0 must be a number of seconds from 1.0 to 3600.0"),
            ("connect_timeout=soon", "option connect_timeout=soon must be a number of seconds"),
            ("tls_verify=maybe", "option tls_verify=maybe must be yes or no"),
            // Volume-layer keys: refused by the store verbs too (they used to be ignored there).
            ("chunksize=lots", "option chunksize=lots must be a size from 4K to 5G"),
            ("chunksize=1K", "option chunksize=1K must be a size from 4K to 5G"),
            ("upload=sometimes", "option upload=sometimes is not one of: each-chunk, on-close, manual"),
            ("uploads=0", "option uploads=0 must be a whole number from 1 to 64"),
        ]
        for (bad, message) in cases {
            let o = bad.hasPrefix("path=") || bad == "backend" || bad.hasPrefix("backend=") ? bad : local + "," + bad
            for verb in [["store", "ls"], ["ls"]] {
                let r = try run(["-o", o] + verb)
                #expect(r.status == 2 && r.stderr.hasPrefix("chunkctl: ") && r.stderr.contains(message) && r.stdout.isEmpty,
                        "\(bad) with \(verb): exit \(r.status), \(r.stderr)")
            }
        }
        // An empty value is the default (Spec/options.md), and empty items are ignored.
        let input = try folder.file("in", randomBytes(70_000, seed: 1))
        let r = try run(["-o", local + ",chunksize=,,", "import", "Empty-0001", input])
        #expect(r.status == 0, "\(r.stderr)")
        let status = try #require(try JSONSerialization.jsonObject(with: Data(run(["-o", local, "status", "--json"]).stdout.utf8)) as? [String: Any])
        let volume = try #require((status["volumes"] as? [[String: Any]])?.first)
        #expect(volume["chunks"] as? Int == 1, "the default 64M chunk size: \(volume)")
    }

    @Test func badVolumeNamesAreUsageErrors() throws {
        let folder = TemporaryFolder("names")
        let env = ["CHUNKVOL_OPTIONS": "backend=local,path=\(folder.path)/store,cache=\(folder.path)/cache"]
        let input = try folder.file("in", [1, 2, 3])
        let long = String(repeating: "x", count: 10_000)
        let cases: [(String, String)] = [
            ("..", "it contains .."), (".", "it starts with ."), (".hidden", "it starts with ."), ("a/b", "it contains /"),
            ("/", "it contains /"), ("", "it is empty"), ("a\u{1}b", "it contains a control character"), ("a\nb", "it contains a control character"),
            ("a\u{7f}b", "it contains a control character"), ("a\tb", "it contains a control character"), (long, "it is longer than 200 bytes"),
        ]
        for (name, why) in cases {
            for verb in [["import", "--", name, input], ["export", "--", name, folder.path + "/out"], ["verify", "--", name], ["rm", "--", name]] {
                let r = try run(verb, env)
                #expect(r.status == 2 && r.stderr.contains("is not allowed: \(why)"), "\(verb[0]) \(name.debugDescription.prefix(30)): \(r.status) \(r.stderr.prefix(300))")
                #expect(r.stderr.utf8.count < 400, "the error does not repeat a 10,000-character name: \(r.stderr.utf8.count) bytes")
            }
        }
        #expect(!FileManager.default.fileExists(atPath: folder.path + "/store/x"), "nothing written")
        // A NUL cannot pass through argv: the Swift API.
        let store = try VolumeStore(options: "backend=local,path=\(folder.path)/store,cache=\(folder.path)/cache", environment: [:])
        for name in ["a\0b", "\0", "ok\0/../../etc", long] {
            #expect { _ = try store.open(name, mode: [.readWrite, .create]) } throws: { error in
                guard let e = error as? VolumeError else { return false }
                return e.kind == .invalid && "\(e)".contains("is not allowed") && "\(e)".utf8.count < 400
            }
            #expect(throws: VolumeError.self) { _ = try store.stat(name) }
            #expect(throws: VolumeError.self) { try store.remove(name) }
        }
        _ = store.close(timeout: 5)
        #expect(try store.cache.index.volumes().isEmpty)
    }

    @Test func badStoreKeysAreRefusedBeforeAnyRequest() throws {
        let folder = TemporaryFolder("keys")
        let local = "backend=local,path=\(folder.path)/store"
        #expect(try run(["-o", local, "store", "create"]).status == 0)
        let file = try folder.file("f", [1])
        let long = String(repeating: "k", count: 1025)
        for key in ["", long] {
            for verb in [["put", "--", key, file], ["get", "--", key, "-"], ["head", "--", key], ["rm", "--", "ok", key], ["presign", "--", key]] {
                let r = try run(["-o", local, "store"] + verb)
                #expect(r.status == 2 && r.stderr.contains("cannot be used: a key "), "\(verb[0]) \(key.prefix(10).debugDescription): \(r.status) \(r.stderr.prefix(300))")
                #expect(r.stderr.utf8.count < 600)
            }
        }
        let longest = String(repeating: "kkkkkkk/", count: 127) + "kkkkkkkk"
        #expect(longest.utf8.count == 1024)
        let put = try run(["-o", local, "store", "put", longest, file])
        #expect(put.status == 0, "1024 bytes is allowed: \(put.stderr.prefix(200))")
        // Through the Swift API, on every backend: refused before a request. An S3 and a Swift store
        // on a port where nothing listens would say "unreachable" if they tried.
        let env = ["AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "x", "ST_USER": "a:b", "ST_KEY": "x"]
        for o in [local, "backend=s3,endpoint=http://127.0.0.1:9,bucket=cvt-b", "backend=swift,endpoint=http://127.0.0.1:9/auth/v1.0,container=c"] {
            let ledger = RequestLedger()
            let store = try StoreStack.open(options: Options(parsing: o + ",retries=0"), environment: env, ledger: ledger).store
            for key in ["", "a\0b", long] {
                for call in [{ _ = try store.put(key, body: .bytes([1]), checksums: .none) }, { _ = try store.get(key, range: nil, into: .memory) },
                             { _ = try store.head(key) }, { try store.delete(key) }] as [() throws -> Void] {
                    #expect { try call() } throws: { ($0 as? StoreError)?.kind == .invalidRequest }
                }
                // A batch delete refuses it too: thrown, or (one DELETE per key) returned for that key.
                do { #expect(try store.delete(keys: [key])[key]?.kind == .invalidRequest) } catch let e as StoreError { #expect(e.kind == .invalidRequest) }
            }
            #expect(ledger.snapshot.total == 0 && ledger.snapshot.failures == 0, "\(o): nothing sent, nothing counted: \(ledger.snapshot.requests)")
        }
    }

    @Test func priceTableNamesGivenTwiceAreUsageErrors() throws {
        let folder = TemporaryFolder("prices2")
        let env = ["CHUNKVOL_OPTIONS": "backend=local,path=\(folder.path)/store,cache=\(folder.path)/cache"]
        let full = "currency = USD\nrequest.PUT = 1\nrequest.GET = 1\nrequest.HEAD = 1\nrequest.LIST = 1\nrequest.DELETE = 1\nrequest.POST = 1\nstorage_gb_month = 1\negress_gb = 1\n"
        #expect(try run(["cost", "--prices", try folder.file("ok", Array(full.utf8))], env).status == 0)
        let cases: [(String, String)] = [
            (full + "request.PUT = 2\n", "line 10: \"request.PUT\" is given twice"),
            (full + "currency = EUR\n", "line 10: \"currency\" is given twice"),
            ("", "lacks storage_gb_month"),
            (full.replacingOccurrences(of: "egress_gb = 1", with: "egress_gb = 1e400"), "egress_gb = \"1e400\" is not a price"),
            (full.replacingOccurrences(of: "egress_gb = 1", with: "egress_gb = nan"), "egress_gb = \"nan\" is not a price"),
            (full + "\u{0}\n", "line 10: \"\\0\" is not \"name = value\""),
        ]
        for (text, message) in cases {
            let r = try run(["cost", "--prices", try folder.file("p", Array(text.utf8))], env)
            #expect(r.status == 2 && r.stderr.contains(message), "\(text.suffix(30).debugDescription): \(r.status) \(r.stderr)")
        }
    }

    /// Every folder under the cache 0700 and every file 0600, with a child chunkctl run under umask 000.
    @Test func cacheIsPrivateWhateverTheUmask() throws {
        let folder = TemporaryFolder("umask")
        let cache = folder.path + "/cache"
        let env = ["CHUNKVOL_OPTIONS": "backend=local,path=\(folder.path)/store,cache=\(cache),chunksize=64K"]
        let input = try folder.file("in", randomBytes(300_000, seed: 3))
        // The wrapper really applies the umask: a file it creates is world-writable.
        let probe = try ChildProcess.run("/usr/bin/touch", [folder.path + "/probe"], environment: [:], umask: 0)
        #expect(probe.status == 0)
        var st = stat()
        #expect(stat(folder.path + "/probe", &st) == 0 && st.st_mode & 0o777 == 0o666, "touch under umask 000: \(String(st.st_mode & 0o777, radix: 8))")
        for args in [["import", "Umask-0001", input], ["import", "--append", "Umask-0001", input], ["evict", "Umask-0001"],
                     ["export", "Umask-0001", folder.path + "/out"], ["status"], ["cost"]] {
            let r = try ChildProcess.chunkctl(args, environment: env, umask: 0)
            #expect(r.status == 0, "\(args): \(r.stderr)")
        }
        // A writer that holds the index open while we look: -wal and -shm exist.
        let store = try VolumeStore(options: "backend=local,path=\(folder.path)/store,cache=\(cache),chunksize=64K", environment: [:])
        defer { _ = store.close(timeout: 5) }
        var seen = (folders: 0, files: 0, wal: false, shm: false, lock: false, chunk: false)
        let walker = FileManager.default.enumerator(atPath: cache)!
        var paths = [cache]
        while let p = walker.nextObject() as? String { paths.append(cache + "/" + p) }
        for path in paths {
            var s = stat()
            try #require(lstat(path, &s) == 0)
            let mode = s.st_mode & 0o777
            if s.st_mode & S_IFMT == S_IFDIR {
                seen.folders += 1
                #expect(mode == 0o700, "\(path): folder mode \(String(mode, radix: 8))")
            } else {
                seen.files += 1
                #expect(mode == 0o600, "\(path): file mode \(String(mode, radix: 8))")
                if path.hasSuffix("-wal") { seen.wal = true }
                if path.hasSuffix("-shm") { seen.shm = true }
                if path.hasSuffix(".lock") { seen.lock = true }
                if path.hasSuffix("/Umask-0001/0") { seen.chunk = true }
            }
        }
        #expect(seen.folders >= 3 && seen.files >= 4 && seen.wal && seen.shm && seen.lock && seen.chunk, "looked at \(seen)")
    }
}
