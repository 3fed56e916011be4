// Names on the store (Spec/format.md): chunk n of volume V is `<prefix>V/<n>`, n in decimal
// zero-padded to at least 4 digits; the manifest is `<prefix>.chunkvol/V.json`.
import ChunkCache

public struct VolumeLayout: Sendable {
    public let prefix: String
    public static let maxNameBytes = 200

    public init(prefix: String) { self.prefix = prefix }

    /// Chunks of a volume of `size` bytes: every one full but the last; none for an empty volume.
    public static func chunkCount(size: UInt64, chunkSize: UInt64) -> Int {
        size == 0 ? 0 : Int((size + chunkSize - 1) / chunkSize)
    }

    public func chunkKey(_ volume: String, _ number: Int) -> String {
        let digits = String(number)
        return prefix + volume + "/" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
    public func chunkPrefix(_ volume: String) -> String { prefix + volume + "/" }
    public func manifestKey(_ volume: String) -> String { prefix + ".chunkvol/" + volume + ".json" }
    public var manifestPrefix: String { prefix + ".chunkvol/" }

    /// The chunk number a key under `chunkPrefix(volume)` names, or nil for any other key.
    public func chunkNumber(_ key: String, volume: String) -> Int? {
        let p = chunkPrefix(volume)
        guard key.hasPrefix(p) else { return nil }
        let rest = key.dropFirst(p.count)
        guard rest.count >= 4, rest.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(rest) else { return nil }
        // "0001" and "00001" would both parse: only the canonical spelling is a chunk.
        return chunkKey(volume, n) == key ? n : nil
    }

    /// The volume a key (or a listing prefix) belongs to: its chunks, its chunk folder, its
    /// manifest. Nil for keys of no volume (the manifest folder, foreign objects).
    public func volume(ofKey key: String) -> String? {
        guard key.hasPrefix(prefix) else { return nil }
        let rest = key.dropFirst(prefix.count)
        if rest.hasPrefix(".chunkvol/") {
            let file = rest.dropFirst(".chunkvol/".count)
            return file.hasSuffix(".json") && file.count > 5 ? String(file.dropLast(5)) : nil
        }
        guard let slash = rest.firstIndex(of: "/"), slash != rest.startIndex else { return nil }
        return String(rest[..<slash])
    }

    /// Volume names: 1 to 200 bytes of UTF-8; no "/", no "..", no control characters, not starting
    /// with "." (the manifest folder is ".chunkvol").
    public static func validate(_ name: String) throws {
        func bad(_ why: String) -> VolumeError {
            VolumeError(.invalid, "volume name \(name.debugDescription.prefix(80)) is not allowed: \(why)")
        }
        guard !name.isEmpty else { throw bad("it is empty") }
        guard name.utf8.count <= maxNameBytes else { throw bad("it is longer than \(maxNameBytes) bytes") }
        guard !name.contains("/") else { throw bad("it contains /") }
        guard !name.contains("..") else { throw bad("it contains ..") }
        guard !name.hasPrefix(".") else { throw bad("it starts with .") }
        guard !name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f || (0x80...0x9f).contains($0.value) }) else {
            throw bad("it contains a control character")
        }
    }
}

public extension VolumeRecord {
    var chunkCount: Int { VolumeLayout.chunkCount(size: size, chunkSize: chunkSize) }
}
