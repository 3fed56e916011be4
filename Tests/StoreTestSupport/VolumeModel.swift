// The model-based check of the device: seeded random sequences of operations applied to a volume
// and to a plain byte array side by side, with 4 KiB chunks so most operations cross chunk
// boundaries. After every step the sizes agree, and every read returns the model's bytes.
// Used on the Local backend (ChunkvolTests) and on the real servers (IntegrationTests).
import Foundation
import Chunkvol
import ObjectStore

public struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    public init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Runs the model test against any store the options name; `cacheFolder` is wiped for cold reopens.
public func runVolumeModel(storeOptions: String, environment: [String: String], cacheFolder: String, seed: UInt64,
                    steps: Int, policy: String = "each-chunk") throws -> (writes: Int, reads: Int, reopens: Int) {
    var rng = SeededGenerator(seed: seed)
    let cs = 4096
    let options = storeOptions + ",cache=\(cacheFolder),chunksize=4K,uploads=3,upload=\(policy),readahead=2"
    var store = try VolumeStore(options: options, environment: environment)
    let name = "model-\(seed)"
    var volume = try store.open(name, mode: [.readWrite, .create, .truncate])
    var model: [UInt8] = []
    var position = 0
    var stats = (writes: 0, reads: 0, reopens: 0)

    func checkAll(_ v: Volume, _ step: Int) throws {
        let saved = v.position
        try v.seek(0)
        let all = try v.read(count: model.count + cs)
        if all != model {
            let first = zip(all, model).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(all.count, model.count)
            let n = first / cs
            let expected = Array(model[(n * cs)..<min(model.count, (n + 1) * cs)])
            let rec = try? store.cache.index.chunk(name, n)
            let fileBytes = (try? [UInt8](Data(contentsOf: URL(fileURLWithPath: store.cache.chunkPath(name, n))))) ?? []
            let stored = (try? store.stack.store.get(store.layout.chunkKey(name, n), range: nil, into: .memory).bytes) ?? []
            let diag = "record \(String(describing: rec)); file \(fileBytes.count) bytes, equal \(fileBytes == expected); store \(stored.count) bytes, equal \(stored == expected), expected \(expected.count)"
            throw CheckFailure("step \(step): whole volume differs (got \(all.count) bytes, model \(model.count)); first difference at \(first), chunk \(n); \(diag)")
        }
        try v.seek(Int64(saved))
    }

    let trace = ProcessInfo.processInfo.environment["MODEL_TRACE"] != nil
    for step in 0..<steps {
        let op = Int.random(in: 0..<100, using: &rng)
        if trace { print("seed \(seed) step \(step) op \(op) pos \(position) size \(model.count)") }
        switch op {
        case 0..<35:   // write
            let count = Int.random(in: 1...(3 * cs), using: &rng)
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
            try volume.write(bytes)
            if position > model.count { model += [UInt8](repeating: 0, count: position - model.count) }
            let end = position + count
            if end > model.count { model += [UInt8](repeating: 0, count: end - model.count) }
            model.replaceSubrange(position..<end, with: bytes)
            position = end
            stats.writes += 1
        case 35..<50:   // seek
            position = Int.random(in: 0...(model.count + cs), using: &rng)
            try volume.seek(Int64(position))
        case 50..<70:   // read
            let count = Int.random(in: 1...(2 * cs), using: &rng)
            let got = try volume.read(count: count)
            let expected = position < model.count ? Array(model[position..<min(model.count, position + count)]) : []
            try check(got == expected, "step \(step): read of \(count) at \(position) differs")
            position += got.count
            stats.reads += 1
        case 70..<77:   // truncate
            let length = Int.random(in: 0...(model.count + cs), using: &rng)
            try volume.truncate(to: UInt64(length))
            if length < model.count { model.removeLast(model.count - length) } else { model += [UInt8](repeating: 0, count: length - model.count) }
        case 77..<84:
            try volume.sync()
        case 84..<90:   // close and reopen
            try volume.close()
            volume = try store.open(name, mode: [.readWrite])
            position = 0
            stats.reopens += 1
        case 90..<95:   // evict what is clean, after the uploads so far
            try volume.flush(timeout: 60)
            try store.evict([name])
        default:        // reopen with an empty cache: everything comes back from the store
            try volume.flush(timeout: 60)
            try volume.close()
            try check(store.close(timeout: 60), "step \(step): uploads did not finish")
            try? FileManager.default.removeItem(atPath: cacheFolder)
            store = try VolumeStore(options: options, environment: environment)
            volume = try store.open(name, mode: [.readWrite])
            position = 0
            stats.reopens += 1
        }
        try check(volume.size == UInt64(model.count), "step \(step) (op \(op)): size \(volume.size), model \(model.count)")
        if trace, let r = try? store.cache.index.chunk(name, 13) { print("   chunk13 \(r.length) \(r.state) cached \(r.cached)") }
        if step % 25 == 0 { try checkAll(volume, step) }
    }
    try checkAll(volume, steps)
    try volume.flush(timeout: 60)
    try volume.close()
    _ = store.close(timeout: 60)
    // On the store: exactly the volume's chunks (truncates removed the rest), concatenated the model.
    let objects = try store.stack.store.listAll(prefix: store.layout.chunkPrefix(name))
    try check(objects.map(\.key) == (0..<objects.count).map { store.layout.chunkKey(name, $0) },
              "the store holds chunks \(objects.map(\.key)), not 0..<\(objects.count) in order")
    let stored = try objects.flatMap { try store.stack.store.get($0.key, range: nil, into: .memory).bytes }
    if stored != model {
        let lengths = objects.map { "\($0.key.split(separator: "/").last!):\($0.size)" }
        let records = ((try? store.cache.index.chunks(of: name)) ?? []).map { "\($0.number):\($0.length):\($0.state.rawValue)" }
        throw CheckFailure("the chunk objects concatenated (\(stored.count) bytes) differ from the model (\(model.count)); store \(lengths); index \(records)")
    }
    return stats
}

