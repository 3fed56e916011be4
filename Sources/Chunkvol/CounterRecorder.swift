// Persists the ledger's request counts per volume and UTC day into the cache index, where the cost
// report and `chunkctl stats` read them across restarts. Batched so a request does not cost an
// index commit: written at most once a second while requests flow, and when the store closes
// (a crash loses at most the last second of counts, never data).
import Foundation
import Platform
import ObjectStore
import ChunkCache

final class CounterRecorder: @unchecked Sendable {
    private struct Key: Hashable { var volume: String; var kind: RequestKind; var day: String }
    private let index: CacheIndex
    private let layout: VolumeLayout
    private let lock = Mutex()
    private var pending: [Key: RequestCounts] = [:]
    private var lastWrite = Date()
    private static let interval: Double = 1

    init(index: CacheIndex, layout: VolumeLayout) { self.index = index; self.layout = layout }

    /// The ledger's observer: charges `delta` to the volume `key` belongs to ("" for none).
    func record(_ kind: RequestKind, key: String?, _ delta: RequestCounts) {
        let k = Key(volume: key.flatMap(layout.volume(ofKey:)) ?? "", kind: kind, day: CounterRecorder.day(Date()))
        let due = lock.withLock { () -> Bool in
            pending[k] = (pending[k] ?? RequestCounts()) + delta
            return Date().timeIntervalSince(lastWrite) >= CounterRecorder.interval
        }
        if due { persist() }
    }

    /// Writes the counts not yet in the index, in one transaction. On failure they stay pending.
    func persist() {
        let batch = lock.withLock { () -> [Key: RequestCounts] in
            defer { pending = [:]; lastWrite = Date() }
            return pending
        }
        guard !batch.isEmpty else { return }
        do {
            try index.addCounts(batch.map { (volume: $0.key.volume, kind: $0.key.kind, day: $0.key.day, counts: $0.value) })
        } catch {
            lock.withLock { for (k, d) in batch { pending[k] = (pending[k] ?? RequestCounts()) + d } }
        }
    }

    /// YYYY-MM-DD in UTC.
    static func day(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&t, &parts)
        return String(format: "%04d-%02d-%02d", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday))
    }
}
