// The cache's disk full: the cache on a 4 MiB tmpfs made for the test (root), a filler file taking
// part of it. ENOSPC from the filesystem is a clear error; what was synced stays readable; once the
// filler is gone writing resumes where it stopped and the store ends up with every byte.
import Foundation
import Testing
import Chunkvol
import ObjectStore
import StoreTestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite struct DiskFullTests {
    @Test func enospcIsAClearErrorAndWritingResumesWhenSpaceReturns() throws {
        let folder = TemporaryFolder("diskfull")
        let mountPoint = folder.path + "/small"
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        let mounted = try ChildProcess.run("/bin/mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", mountPoint], environment: [:])
        guard mounted.status == 0 else {
            let why = "cannot mount a tmpfs for the disk-full test (needs root): \(mounted.stderr)"
            if TestServers.isCI { throw CheckFailure(why) }
            print("SKIP: \(why)")
            return
        }
        defer { _ = try? ChildProcess.run("/bin/umount", ["-l", mountPoint], environment: [:]) }
        let filler = mountPoint + "/filler"
        try Data(count: 1_500_000).write(to: URL(fileURLWithPath: filler))

        let options = "backend=local,path=\(folder.path)/store,cache=\(mountPoint)/cache,chunksize=64K,cachesize=1G,upload=manual"
        let store = try VolumeStore(options: options, environment: [:])
        let data = randomBytes(4 << 20, seed: 44)   // more than the disk holds
        let v = try store.open("Full-0001", mode: [.readWrite, .create])
        var synced = 0
        var failure: VolumeError? = nil
        while Int(v.position) < data.count {
            let at = Int(v.position)
            do {
                try v.write(Array(data[at..<min(data.count, at + 32_768)]))
                if Int(v.position) % 131_072 == 0 { try v.sync(); synced = Int(v.position) }
            } catch let e as VolumeError { failure = e; break }
        }
        let error = try #require(failure, "4 MiB went into a 4 MiB filesystem holding a 1.5 MB file")
        #expect(error.kind == .noSpace && error.errno == ENOSPC && "\(error)".contains("disk is full"), "\(error)")
        #expect("\(error)".contains("Full-0001"), "\(error)")
        #expect(synced > 0)
        // Nothing synced is lost or damaged: read back through a second handle.
        let r = try store.open("Full-0001", mode: .read)
        let back = try r.read(count: synced)
        #expect(back == Array(data[0..<synced]))
        try r.close()

        // Space returns: the writer goes on from where it stopped.
        unlink(filler)
        try v.seek(Int64(min(Int(v.position), Int(v.size))))
        while Int(v.position) < data.count {
            let at = Int(v.position)
            try v.write(Array(data[at..<min(data.count, at + 262_144)]))
            try v.sync()
            // Uploads make room: each synced stretch goes to the store and is evicted.
            try v.flush(timeout: 60)
            _ = try store.evict(["Full-0001"])
        }
        try v.close()
        let local = LocalStore(root: folder.path + "/store")
        let stored = try local.listAll(prefix: "Full-0001/").flatMap { try local.get($0.key, range: nil, into: .memory).bytes }
        #expect(stored == data)
        #expect(try store.verify("Full-0001", data: true).problems.isEmpty)
        _ = store.close(timeout: 30)
    }
}
