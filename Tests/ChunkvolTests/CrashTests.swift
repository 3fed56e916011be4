// Crash: a child process writes and syncs a seeded stream and is SIGKILLed at a random moment
// (seeded); the store is reopened and flushed. Every byte the child reported synced is there,
// nothing is corrupt, and what survived past the last sync is a prefix of what was written.
import Foundation
import Testing
import Chunkvol
import ObjectStore
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

    @Test func syncedBytesSurviveSIGKILL() throws {
        let trials = Int(ProcessInfo.processInfo.environment["CRASH_TRIALS"] ?? "") ?? 50
        let folder = TemporaryFolder("crash")
        let options = "backend=local,path=\(folder.path)/store,cache=\(folder.path)/cache,chunksize=16K,uploads=2"
        var rng = SeededGenerator(seed: 2026)
        var killedMidway = 0
        var killedAfterASync = 0
        for trial in 0..<trials {
            let volume = "crash-\(trial)"
            let total = 1_500_000
            let seed = UInt64(trial + 1)
            let out = folder.path + "/out-\(trial)"
            let pid = try ChildProcess.spawn(CrashTests.writer, [options, volume, String(seed), String(total)],
                                             environment: [:], stdout: out, stderr: folder.path + "/err-\(trial)")
            usleep(UInt32.random(in: 5_000...250_000, using: &rng))
            kill(pid, SIGKILL)
            let (status, _) = ChildProcess.wait(pid)
            let report = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
            let synced = report.split(separator: "\n").compactMap { $0.hasPrefix("synced ") ? Int($0.dropFirst(7)) : nil }.max() ?? 0
            if status == 128 + SIGKILL && !report.contains("done") {
                killedMidway += 1
                if synced > 0 { killedAfterASync += 1 }
            }

            // The next process: opens, reads, flushes. Nothing synced is lost; nothing is garbage.
            let store = try VolumeStore(options: options, environment: [:])
            let expected = randomBytes(total, seed: seed)
            if synced > 0 || (try? store.stat(volume)) != nil {
                let v = try store.open(volume, mode: .read)
                let got = try v.read(count: total + 1)
                try v.close()
                try check(got.count >= synced, "trial \(trial): \(got.count) bytes after the crash, \(synced) were synced")
                try check(got == Array(expected.prefix(got.count)), "trial \(trial): what survived is not a prefix of what was written")
                try store.flush([volume], timeout: 60)
                // On the store too: the chunks hold exactly the recovered volume.
                let local = LocalStore(root: folder.path + "/store")
                let stored = try local.listAll(prefix: volume + "/").flatMap { try local.get($0.key, range: nil, into: .memory).bytes }
                let keys = try local.listAll(prefix: volume + "/").map { "\($0.key):\($0.size)" }
                try check(stored == got, "trial \(trial): the store's chunks (\(stored.count) bytes in \(keys)) differ from the recovered volume (\(got.count) bytes, \(synced) synced)")
            }
            _ = store.close(timeout: 60)
        }
        // The test means something only if many writers die mid-stream, after syncing something.
        #expect(killedMidway >= trials / 4 && killedAfterASync >= trials / 5,
                "writers killed mid-way: \(killedMidway), after a sync: \(killedAfterASync), of \(trials)")
        print("crash: \(trials) trials, \(killedMidway) writers killed mid-way, \(killedAfterASync) after a sync")
    }
}
