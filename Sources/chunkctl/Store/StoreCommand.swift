// `chunkctl store VERB`: talk to the object store directly, below the volume layer.
import ArgumentParser
import Foundation
import ObjectStore

struct StoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Exercise the object store directly: check, create, put, get, head, ls, rm, presign.",
        discussion: """
        Examples:
          chunkctl -o backend=s3,endpoint=http://127.0.0.1:8080,bucket=b1 store check
          chunkctl store put vol1/0000 ./chunk.bin
          chunkctl store get vol1/0000 - --range 0-1023 | xxd | head
        """,
        subcommands: [StoreCheck.self, StoreCreate.self, StorePut.self, StoreGet.self, StoreHead.self,
                      StoreList.self, StoreRemove.self, StorePresign.self])
}

/// JSON to standard output, keys sorted so output is stable.
func printJSON(_ value: Any) throws {
    let data = try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])
    FileHandle.standardOutput.write(data + Data("\n".utf8))
}

func objectJSON(_ o: ObjectInfo) -> [String: Any] {
    var d: [String: Any] = ["key": o.key, "size": o.size]
    if let etag = o.etag { d["etag"] = etag }
    return d
}

/// A key that can name an object, else a usage error (exit 2) before any request: an empty key would
/// name the bucket or container itself (a DELETE of it removes the bucket, a GET lists it).
func validateKey(_ key: String) throws {
    if let why = ObjectKey.problem(key) {
        let shown = key.utf8.count > 80 ? String(key.prefix(60)).debugDescription + "…" : key.debugDescription
        throw ValidationError("the key \(shown) cannot be used: \(why)")
    }
}
