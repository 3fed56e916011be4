// A storage daemon in miniature for the crash tests: writes a seeded byte stream to one volume in
// blocks of varying size, syncs every few blocks and reports each sync on standard output
// ("synced BYTES") before going on; once, at a seeded moment, it cuts the volume back
// ("truncating BYTES", then "synced BYTES") and writes on from there, so the volume is always a
// prefix of the stream. Then closes ("closed") and flushes ("done"). The test SIGKILLs it at a
// random moment, or CHUNKVOL_CRASH_AT stops it at a named point inside the library.
// Usage: chunkvol-crashwriter OPTIONS VOLUME SEED TOTAL_BYTES
import Foundation
import Chunkvol
import StoreTestSupport

let args = CommandLine.arguments
guard args.count == 5, let seed = UInt64(args[3]), let total = Int(args[4]) else {
    FileHandle.standardError.write(Data("usage: chunkvol-crashwriter OPTIONS VOLUME SEED TOTAL_BYTES\n".utf8))
    exit(2)
}
/// One line on standard output, written at once (unbuffered): the test reads it after the kill.
func report(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

let stream = randomBytes(total, seed: seed)
var rng = SeededGenerator(seed: seed ^ 0xC0FFEE)
do {
    let store = try VolumeStore(options: args[1])
    let volume = try store.open(args[2], mode: [.write, .create])
    var written = Int(volume.size)
    try volume.seek(Int64(written))
    var blocks = 0
    var truncated = false
    while written < total {
        let count = min(total - written, Int.random(in: 1...20_000, using: &rng))
        try volume.write(Array(stream[written..<(written + count)]))
        written += count
        blocks += 1
        if blocks % 3 == 0 {
            try volume.sync()
            report("synced \(written)")
        }
        if !truncated && written > total * 3 / 5 {
            truncated = true
            let to = Int.random(in: (total / 5)...(total * 2 / 5), using: &rng)
            report("truncating \(to)")
            try volume.truncate(to: UInt64(to))
            written = to
            try volume.seek(Int64(to))
            report("synced \(written)")
        }
    }
    try volume.sync()
    report("synced \(written)")
    try volume.close()
    report("closed")
    try store.flush([args[2]], timeout: 60)
    _ = store.close(timeout: 60)
    report("done")
} catch {
    FileHandle.standardError.write(Data("chunkvol-crashwriter: \(error)\n".utf8))
    exit(1)
}
