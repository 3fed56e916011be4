// chunkctl rm and truncate: change a volume without a daemon.
import ArgumentParser
import Foundation
import Chunkvol
import ObjectStore

struct Rm: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Remove VOLUME... from the store (chunks and manifest) and from the cache.",
        discussion: "Refused while another process has the volume open for writing. Exits 1 naming each volume that did not exist.\n\nExample: chunkctl rm Full-0001 Incr-0002")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The volumes to remove.") var volumes: [String]

    func run() throws {
        let store = try global.openVolumes()
        defer { store.close(timeout: 60) }
        var missing: [Failure] = []
        for v in volumes {
            do { try store.remove(v); print("removed \(v)") } catch let e as VolumeError where e.kind == .notFound {
                missing.append(Failure(e))
            } catch { throw Failure.from(error) }
        }
        if let first = missing.first {
            throw Failure(missing.map(\.message).joined(separator: "; "), code: first.code)
        }
    }
}

struct Truncate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Cut VOLUME to LENGTH bytes (or extend it with zeros), then flush it.",
        discussion: "Chunk objects past the new end are removed from the store at once; the new manifest follows the flush.\n\nExample: chunkctl truncate Full-0001 0")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The volume's name.") var volume: String
    @Argument(help: "The new length: bytes, or with K, M, G, T.") var length: String
    @Option(help: "Seconds the flush may take.") var timeout: Double = 3600

    func run() throws {
        guard let size = Options.parseSize(length) else {
            throw Failure("length \(length.debugDescription) is not a size; give bytes or a number with K, M, G or T", code: Failure.usage)
        }
        let store = try global.openVolumes()
        try volumeReporting {
            let v = try store.open(volume, mode: .write)
            try v.truncate(to: size)
            try v.flush(timeout: timeout)
            try v.close()
        }
        store.close(timeout: timeout)
        print("truncated \(volume) to \(size) bytes, flushed")
        print(requestLine(store.requestCounts))
    }
}
