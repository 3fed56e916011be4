// The volume layer's part of the option string (Spec/options.md).
import Foundation
import ObjectStore

public enum UploadPolicy: String, Sendable {
    /// A chunk is uploaded as soon as it is full; the rest at close.
    case eachChunk = "each-chunk"
    /// Everything at close.
    case onClose = "on-close"
    /// Only by flush (`chunkctl flush`).
    case manual
}

public struct VolumeConfiguration: Sendable {
    public var chunkSize: UInt64
    public var cacheFolder: String
    public var cacheSize: UInt64
    public var uploads: Int
    public var policy: UploadPolicy
    public var readahead: Int
    public var prefix: String
    /// Seconds a writer waits for uploads to make room in a full cache before it fails.
    public var spaceTimeout: Double

    public static let minChunkSize: UInt64 = 4096
    public static let maxChunkSize: UInt64 = 5 << 30

    public init(options: Options, environment: [String: String]) throws {
        chunkSize = try options.size("chunksize", default: 64 << 20, range: VolumeConfiguration.minChunkSize...VolumeConfiguration.maxChunkSize)
        let home = environment["HOME"] ?? NSHomeDirectory()
        let xdg = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
        cacheFolder = options.string("cache") ?? ((xdg ?? home + "/.cache") + "/chunkvol")
        cacheSize = try options.size("cachesize", default: 20 << 30, range: (1 << 20)...(1 << 60))
        uploads = try options.integer("uploads", default: 8, range: 1...64)
        policy = UploadPolicy(rawValue: try options.choice("upload", ["each-chunk", "on-close", "manual"], default: "each-chunk"))!
        readahead = try options.integer("readahead", default: 4, range: 0...64)
        prefix = options.string("prefix") ?? ""
        spaceTimeout = try options.seconds("space_timeout", default: 600, range: 0...86_400)
    }
}
