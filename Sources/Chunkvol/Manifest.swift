// The manifest: a volume's commit record on the store, written after the chunks it lists
// (Spec/format.md). JSON, so an operator can read it with any tool.
import Foundation
import Platform

public struct Manifest: Codable, Sendable, Equatable {
    public struct Chunk: Codable, Sendable, Equatable {
        public var number: Int
        public var length: UInt64
        public var sha256: String
    }
    public var format: String = "chunkvol-manifest"
    public var version: Int = 1
    public var volume: String
    public var chunkSize: UInt64
    public var size: UInt64
    public var chunkCount: Int
    public var generation: Int64
    public var updated: String
    public var chunks: [Chunk]

    enum CodingKeys: String, CodingKey {
        case format, version, volume, chunkSize = "chunk_size", size, chunkCount = "chunk_count", generation, updated, chunks
    }

    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(self)) ?? Data())
    }

    /// Decodes and checks a manifest; the error names what is wrong.
    public static func decode(_ bytes: [UInt8], volume: String) throws -> Manifest {
        let m: Manifest
        do { m = try JSONDecoder().decode(Manifest.self, from: Data(bytes)) } catch {
            throw VolumeError(.corrupt, "the manifest of volume \(volume) is not valid JSON of the chunkvol format: \(error)")
        }
        func bad(_ why: String) -> VolumeError { VolumeError(.corrupt, "the manifest of volume \(volume) is inconsistent: \(why)") }
        guard m.format == "chunkvol-manifest" else { throw bad("format is \(m.format)") }
        guard m.version == 1 else { throw bad("version \(m.version) is not known to this chunkvol") }
        guard m.chunkSize >= 4096 else { throw bad("chunk size \(m.chunkSize)") }
        let expected = VolumeLayout.chunkCount(size: m.size, chunkSize: m.chunkSize)
        guard m.chunkCount == expected, m.chunks.count == expected else {
            throw bad("\(m.chunks.count) chunks listed, \(m.chunkCount) counted, \(expected) expected for \(m.size) bytes")
        }
        for (i, c) in m.chunks.enumerated() {
            let want = i == expected - 1 ? m.size - UInt64(i) * m.chunkSize : m.chunkSize
            guard c.number == i, c.length == want, [UInt8](hex: c.sha256)?.count == 32 else {
                throw bad("chunk \(i) has number \(c.number), length \(c.length) (expected \(want)) or a bad SHA-256")
            }
        }
        return m
    }
}
