// Crash: a child process writes and syncs a seeded stream and is SIGKILLed at a random moment
// (seeded); the store is reopened and flushed. Every byte the child reported synced is there,
// nothing is corrupt, and what survived past the last sync is a prefix of what was written.
import Foundation
import Testing
import Chunkvol
import ObjectStore
import Platform
import StoreTestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite struct CrashTests {
    static var writer: String {
        URL(fileURLWithPath: ChildProcess.chunkctl).deletingLastPathComponent().appendingPathComponent("chunkvol-crashwriter").path
    }

    @Test func aWriterInAnotherProcessIsNamed() throws {
        let folder = TemporaryFolder("other")
        let options = "backend=local,path=\(folder.path)/store,cache=\(folder.path)/cache,chunksize=64K,upload=manual"
        let out = folder.path + "/out"
        let pid = try ChildProcess.spawn(CrashTests.writer, [options, "Busy-0001", "1", String(400 << 20)], environment: [:],
                                         stdout: out, stderr: folder.path + "/err")
        defer { kill(pid, SIGKILL); _ = ChildProcess.wait(pid) }
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, !((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").contains("synced") { usleep(20_000) }
        let store = try VolumeStore(options: options, environment: [:])
        #expect { _ = try store.open("Busy-0001", mode: [.write]) } throws: { error in
            (error as? VolumeError)?.kind == .busy && "\(error)".contains("process \(pid)") && "\(error)".contains("crashwriter")
        }
        let reader = try store.open("Busy-0001", mode: .read)   // readers are not held back
        try reader.close()
    }

    /// The lowest length the volume may have after the crash: the last sync the writer reported,
    /// or the length a truncate under way was cutting it to.
    static func lowerBound(_ report: String) -> Int {
        var bound = 0
        for line in report.split(separator: "\n") {
            if line.hasPrefix("synced "), let n = Int(line.dropFirst(7)) { bound = n }
            if line.hasPrefix("truncating "), let n = Int(line.dropFirst(11)) { bound = min(bound, n) }
        }
        return bound
    }

    /// After a writer died: before any recovery, every chunk the index calls clean is on the store
    /// with the recorded bytes; after reopening, nothing synced is lost, the volume is a prefix of
    /// the stream, and after a flush the store holds exactly it and verify finds nothing wrong.
    static func checkAfterCrash(_ options: String, store root: String, volume: String, seed: UInt64, total: Int,
                                report: String, trial: String) throws {
        let local = LocalStore(root: root)
        let layout = VolumeLayout(prefix: "")
        do {
            let look = try VolumeStore(options: options, environment: [:], recover: false)
            for rec in try look.cache.index.chunks(of: volume) where rec.state == .clean {
                let stored = try? local.get(layout.chunkKey(volume, rec.number), range: nil, into: .memory).bytes
                try check(stored != nil && Digest.sha256(stored!) == rec.sha256 && UInt64(stored!.count) == rec.length,
                          "\(trial): chunk \(rec.number) is clean in the index but the store does not hold its bytes")
            }
            _ = look.close(timeout: 0)
        }
        let bound = lowerBound(report)
        let store = try VolumeStore(options: options, environment: [:])
        defer { _ = store.close(timeout: 60) }
        guard bound > 0 || (try? store.stat(volume)) != nil else { return }
        let expected = randomBytes(total, seed: seed)
        let v = try store.open(volume, mode: .read)
        let got = try v.read(count: total + 1)
        try v.close()
        try check(got.count >= bound, "\(trial): \(got.count) bytes after the crash, at least \(bound) were synced")
        try check(got == Array(expected.prefix(got.count)), "\(trial): what survived is not a prefix of what was written")
        try store.flush([volume], timeout: 60)
        let keys = try local.listAll(prefix: volume + "/")
        let stored = try keys.flatMap { try local.get($0.key, range: nil, into: .memory).bytes }
        try check(stored == got, "\(trial): the store's chunks (\(stored.count) bytes in \(keys.map { "\($0.key):\($0.size)" })) differ from the recovered volume (\(got.count) bytes, \(bound) synced)")
        let problems = try store.verify(volume, data: true).problems
        try check(problems.isEmpty, "\(trial): verify after recovery: \(problems)")
    }

    /// SIGKILL at a random moment (seeded), after the writer has reported a random number of syncs,
    /// so the moment falls inside the stream whatever the machine's load.
    @Test func syncedBytesSurviveSIGKILL() throws {
        let trials = Int(ProcessInfo.processInfo.environment["CRASH_TRIALS"] ?? "") ?? 50
        let folder = TemporaryFolder("crash")
        let options = "backend=local,path=\(folder.path)/store,cache=\(folder.path)/cache,chunksize=16K,uploads=2"
        var rng = SeededGenerator(seed: 2026)
        var killedMidway = 0
        for trial in 0..<trials {
            let volume = "crash-\(trial)"
            let total = 600_000
            let seed = UInt64(trial + 1)
            let out = folder.path + "/out-\(trial)"
            let pid = try ChildProcess.spawn(CrashTests.writer, [options, volume, String(seed), String(total)],
                                             environment: [:], stdout: out, stderr: folder.path + "/err-\(trial)")
            let syncs = Int.random(in: 0...25, using: &rng)
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline, waitpid(pid, nil, WNOHANG) == 0,
                  ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").split(separator: "\n").count < syncs { usleep(1_000) }
            usleep(UInt32.random(in: 0...20_000, using: &rng))
            kill(pid, SIGKILL)
            let (status, _) = ChildProcess.wait(pid)
            let report = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
            if status == 128 + SIGKILL && !report.contains("done") { killedMidway += 1 }
            try CrashTests.checkAfterCrash(options, store: folder.path + "/store", volume: volume, seed: seed, total: total,
                                           report: report, trial: "trial \(trial)")
        }
        #expect(killedMidway >= trials * 3 / 4, "writers killed mid-way: \(killedMidway) of \(trials)")
        print("crash: \(trials) trials at random moments, \(killedMidway) writers killed mid-way")
    }

    /// SIGKILL at named points inside the library (CHUNKVOL_CRASH_AT), between the steps whose order
    /// the guarantees rest on: in a write, in a sync, in an upload, at the manifest, in a truncate.
    @Test func crashesAtEveryPoint() throws {
        let trials = Int(ProcessInfo.processInfo.environment["CRASH_POINT_TRIALS"] ?? "") ?? 180
        let points: [(name: String, hits: ClosedRange<Int>)] = [
            ("write.before-data", 1...40), ("write.after-data", 1...40), ("sync.after-fsync", 1...12), ("sync.committed", 1...12),
            ("upload.marked-uploading", 1...20), ("upload.after-put", 1...20), ("manifest.after-put", 1...1),
            ("truncate.committed", 1...1), ("truncate.deleted", 1...1),
        ]
        let folder = TemporaryFolder("crashpoints")
        let options = "backend=local,path=\(folder.path)/store,cache=\(folder.path)/cache,chunksize=16K,uploads=2"
        var rng = SeededGenerator(seed: 77)
        var crashed: [String: Int] = [:]
        for trial in 0..<trials {
            let point = points[trial % points.count]
            let hit = Int.random(in: point.hits, using: &rng)
            let volume = "point-\(trial)"
            let total = 400_000
            let seed = UInt64(1000 + trial)
            let out = folder.path + "/out-\(trial)"
            let pid = try ChildProcess.spawn(CrashTests.writer, [options, volume, String(seed), String(total)],
                                             environment: ["CHUNKVOL_CRASH_AT": "\(point.name):\(hit)"],
                                             stdout: out, stderr: folder.path + "/err-\(trial)")
            let (status, _) = ChildProcess.wait(pid)
            let report = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
            if status == 128 + SIGKILL { crashed[point.name, default: 0] += 1 } else {
                try check(status == 0 && report.contains("done"), "trial \(trial): the writer failed: \((try? String(contentsOfFile: folder.path + "/err-\(trial)", encoding: .utf8)) ?? "")")
            }
            try CrashTests.checkAfterCrash(options, store: folder.path + "/store", volume: volume, seed: seed, total: total,
                                           report: report, trial: "trial \(trial) (\(point.name):\(hit))")
        }
        for p in points {
            #expect((crashed[p.name] ?? 0) >= trials / points.count / 2, "\(p.name): only \(crashed[p.name] ?? 0) crashes")
        }
        print("crash points: \(trials) trials, crashes by point: \(crashed.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")
    }
}
