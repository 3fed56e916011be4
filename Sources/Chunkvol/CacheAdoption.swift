// A lost or damaged cache index must not lose what only the cache holds. At open, a volume folder
// of chunk files that the index does not know is adopted: each file is compared with the manifest
// on the store, a file with the manifest's bytes is clean, any other is dirty (uploaded at once),
// and a chunk only the store has stays there. Chunk files are never discarded.
import Foundation
import Platform
import ObjectStore
import ChunkCache
#if canImport(Glibc)
import Glibc
#endif

extension VolumeStore {
    func adoptVolumeFolders() {
        guard let known = try? Set(cache.index.volumes().map(\.name)) else { return }
        for name in cache.volumeFolders() where !known.contains(name) {
            guard (try? VolumeLayout.validate(name)) != nil,
                  let lock = try? VolumeLock(cache: cache, volume: name, patient: false) else { continue }
            defer { withExtendedLifetime(lock) {} }
            let files = cache.chunkFiles(name)
            if files.isEmpty { try? FileManager.default.removeItem(atPath: cache.volumeFolder(name)); continue }
            do {
                let notice = try adopt(name, files: files)
                adoptionNotices.append(notice)
            } catch {
                adoptionNotices.append("volume \(name): its chunk files in \(cache.volumeFolder(name)) are not in the cache index and could not be adopted (\(error)); they are left untouched")
            }
        }
    }

    private func adopt(_ name: String, files: [(number: Int, size: UInt64)]) throws -> String {
        // A damaged manifest tells nothing: every file is then taken as newer than the store.
        var manifest: Manifest? = nil
        do { manifest = try loadManifest(name) } catch let e as VolumeError where e.kind == .corrupt {}
        let largest = files.map(\.size).max() ?? 0
        let chunkSize = manifest?.chunkSize ?? max(configuration.chunkSize, largest)
        var records: [Int: ChunkRecord] = [:]
        for c in manifest?.chunks ?? [] {
            records[c.number] = ChunkRecord(volume: name, number: c.number, length: c.length, state: .clean, cached: false,
                                            sha256: [UInt8](hex: c.sha256))
        }
        var dirty = 0
        for f in files {
            let fd = try cache.openChunk(name, f.number, create: false)
            defer { Glibc.close(fd) }
            let sha = try ChunkHasher.hashFile(fd, length: f.size, kinds: []).sha256
            if let known = records[f.number], known.length == f.size, known.sha256 == sha {
                records[f.number]!.cached = true
            } else {
                // Not the store's bytes: newer, so they are the volume's (never thrown away).
                records[f.number] = ChunkRecord(volume: name, number: f.number, length: max(f.size, records[f.number]?.length ?? 0),
                                                state: .dirty, cached: true)
                dirty += 1
            }
        }
        let last = records.keys.max() ?? 0
        let size = max(manifest?.size ?? 0, UInt64(last) * chunkSize + (records[last]?.length ?? 0))
        let generation = (manifest?.generation ?? 0) + (dirty > 0 ? 1 : 0)
        let record = VolumeRecord(name: name, chunkSize: chunkSize, size: size, generation: max(generation, 1),
                                  storedGeneration: dirty == 0 && manifest?.size == size ? manifest?.generation : nil)
        try cache.index.transaction {
            try cache.index.saveUnlocked(record)
            for r in records.values { try cache.index.saveUnlocked(r) }
        }
        return "volume \(name): adopted from the cache folder (the index did not know it): \(files.count) chunk file(s), \(dirty) newer than the store and queued for upload, \(size) bytes"
    }
}
