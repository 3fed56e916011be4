// The object-store protocol's contract (Sources/ObjectStore/ObjectStore.swift), as checks any
// backend must pass: the Local store in unit tests, S3 and Swift on the real servers.
import Foundation
import ObjectStore
import Platform
#if canImport(Glibc)
import Glibc
#endif

public enum StoreContract {
    /// Keys that stress encoding: spaces, unicode, + = % ~ &, deep paths.
    public static let awkwardKeys = [
        "plain", "with space", "ünïcödé/日本語", "plus+sign", "equals=sign", "per%cent", "tilde~",
        "amp&ersand", "deep/a/b/c/d/e/f/g/object", "mixed/ +=%~&/äöü", "trailing.dot.", "semi;colon,comma",
        "quote'and\"double", "brackets[](){}", "star*question?", "hash#tag", "at@dollar$",
    ]

    public static func roundTrip(_ store: any ObjectStore, prefix: String) throws {
        let key = prefix + "roundtrip"
        let data = randomBytes(300_001, seed: 1)
        let info = try store.put(key, body: .bytes(data), checksums: .none)
        try checkEqual(info.size, UInt64(data.count), "size returned by put")

        let whole = try store.get(key, range: nil, into: .memory)
        try check(whole.bytes == data, "get returns the bytes put")
        try checkEqual(whole.info.size, UInt64(data.count), "size reported by get")

        let ranged = try store.get(key, range: ByteRange(1000, 1999), into: .memory)
        try check(ranged.bytes == Array(data[1000...1999]), "ranged get returns bytes 1000-1999")
        try checkEqual(ranged.info.size, UInt64(data.count), "total size reported by a ranged get")

        let tail = try store.get(key, range: ByteRange(300_000, 400_000), into: .memory)
        try check(tail.bytes == [data[300_000]], "a range past the end is cut to the object")

        let pastEnd = try expectError(StoreError.self, "range starting past the end") {
            _ = try store.get(key, range: ByteRange(300_001, 300_010), into: .memory)
        }
        try checkEqual(pastEnd.kind, .invalidRange, "kind of a range past the end")

        // Into a file, at an offset, leaving what is before it alone.
        let folder = TemporaryFolder()
        let path = try folder.file("sink", [UInt8](repeating: 7, count: 10))
        let fd = open(path, O_RDWR)
        defer { close(fd) }
        let toFile = try store.get(key, range: nil, into: .file(descriptor: fd, offset: 10))
        try checkEqual(toFile.length, UInt64(data.count), "bytes written to the file")
        let written = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        try check(written == [UInt8](repeating: 7, count: 10) + data, "the file holds the prefix and then the object")

        try checkEqual(try store.head(key).size, UInt64(data.count), "head size")

        // Overwrite: the new bytes replace the old.
        let replacement = randomBytes(5, seed: 2)
        _ = try store.put(key, body: .bytes(replacement), checksums: .none)
        try check(try store.get(key, range: nil, into: .memory).bytes == replacement, "overwrite replaces the object")

        try store.delete(key)
        try store.delete(key)   // already gone: success
        try checkEqual(try expectError(StoreError.self, "get after delete") { _ = try store.get(key, range: nil, into: .memory) }.kind,
                       .notFound, "kind of get after delete")
        try checkEqual(try expectError(StoreError.self, "head after delete") { _ = try store.head(key) }.kind,
                       .notFound, "kind of head after delete")
    }

    /// Puts a body streamed from a file region with the checksums the store uses, and a wrong one.
    public static func checksums(_ store: any ObjectStore, prefix: String) throws {
        let folder = TemporaryFolder()
        let data = randomBytes(1 << 20, seed: 3)
        let path = try folder.file("body", [0, 0, 0] + data + [9, 9])
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        let body = ObjectBody.file(descriptor: fd, offset: 3, length: UInt64(data.count))
        let right = Checksums(sha256: store.checksumKinds.contains(.sha256) ? Digest.sha256(data) : nil,
                              md5: store.checksumKinds.contains(.md5) ? Digest.md5(data) : nil)
        _ = try store.put(prefix + "checked", body: body, checksums: right)
        try check(try store.get(prefix + "checked", range: nil, into: .memory).bytes == data, "file-region body stored exactly")
        if !store.checksumKinds.isEmpty {
            let wrong = Checksums(sha256: right.sha256.map { _ in Digest.sha256([1]) }, md5: right.md5.map { _ in Digest.md5([1]) })
            let e = try expectError(StoreError.self, "put with a wrong checksum") {
                _ = try store.put(prefix + "bad", body: body, checksums: wrong)
            }
            try checkEqual(e.kind, .checksumMismatch, "kind of a checksum mismatch (\(e))")
            try checkEqual(try expectError(StoreError.self, "the rejected object") { _ = try store.head(prefix + "bad") }.kind,
                           .notFound, "a rejected put stores nothing")
        }
        try store.delete(prefix + "checked")
    }

    public static func awkwardKeyNames(_ store: any ObjectStore, prefix: String) throws {
        for (i, name) in awkwardKeys.enumerated() {
            let key = prefix + name
            let data = randomBytes(100 + i, seed: UInt64(i))
            _ = try store.put(key, body: .bytes(data), checksums: .none)
            try check(try store.get(key, range: nil, into: .memory).bytes == data, "round trip of key \(key.debugDescription)")
            try checkEqual(try store.head(key).size, UInt64(data.count), "head of key \(key.debugDescription)")
        }
        let listed = try store.listAll(prefix: prefix).map(\.key)
        let expected = awkwardKeys.map { prefix + $0 }.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        try checkEqual(listed, expected, "listing of awkward keys, in UTF-8 byte order")
        for name in awkwardKeys { try store.delete(prefix + name) }
        try checkEqual(try store.listAll(prefix: prefix).count, 0, "keys left after deleting all")
    }

    public static func paging(_ store: any ObjectStore, prefix: String, count: Int = 25, pageSize: Int = 10) throws {
        let keys = (0..<count).map { prefix + String(format: "page/%04d", $0) }
        for k in keys { _ = try store.put(k, body: .bytes(Array(k.utf8)), checksums: .none) }
        var pages = 0
        var seen: [String] = []
        var continuation: String? = nil
        repeat {
            let page = try store.list(prefix: prefix + "page/", continuation: continuation, limit: pageSize)
            try check(page.objects.count <= pageSize, "a page holds at most \(pageSize) keys, got \(page.objects.count)")
            seen += page.objects.map(\.key)
            continuation = page.continuation
            pages += 1
            try check(pages <= count + 1, "paging does not end")
        } while continuation != nil
        try checkEqual(seen, keys, "all keys once, in order, across pages")
        try check(pages >= (count + pageSize - 1) / pageSize, "at least \((count + pageSize - 1) / pageSize) pages, got \(pages)")
        let sizes = try store.listAll(prefix: prefix + "page/").map(\.size)
        try checkEqual(sizes, keys.map { UInt64($0.utf8.count) }, "sizes in the listing")
        try checkEqual(try store.list(prefix: prefix + "page/0001", continuation: nil, limit: 100).objects.map(\.key),
                       [prefix + "page/0001"], "a prefix that is a whole key")
        for k in keys { try store.delete(k) }
    }

    public static func batchDelete(_ store: any ObjectStore, prefix: String) throws {
        let keys = (0..<30).map { prefix + "batch/\($0) +&" }
        for k in keys { _ = try store.put(k, body: .bytes([1, 2, 3]), checksums: .none) }
        let batch = store.maxBatchDelete > 0 ? Array(keys.prefix(store.maxBatchDelete)) : keys
        let failed = try store.delete(keys: batch + [prefix + "batch/never-existed"])
        try check(failed.isEmpty, "batch delete failures: \(failed)")
        try checkEqual(try store.listAll(prefix: prefix + "batch/").count, 0, "objects left after a batch delete")
    }
}
