import ArgumentParser
import ObjectStore

struct StoreHead: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "head",
        abstract: "Show the size and entity tag of the object KEY.",
        discussion: "Prints KEY<TAB>SIZE<TAB>ETAG, or JSON with --json. Exit 1 when there is no such object.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The object's key.") var key: String
    @Flag(help: "Print the result as JSON.") var json = false

    func validate() throws { try validateKey(key) }

    func run() throws {
        let stack = try global.openStore()
        let info = try reporting { try stack.store.head(key) }
        if json { try printJSON(objectJSON(info)) } else { print("\(info.key)\t\(info.size)\t\(info.etag ?? "-")") }
    }
}

struct StoreList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List the keys that start with PREFIX (all keys without one), one a line.",
        discussion: "Pages through the whole listing. --json prints a list of {key, size, etag}.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Only keys that start with this.") var prefix: String = ""
    @Flag(help: "Print a JSON list with sizes.") var json = false
    @Option(help: "Keys asked for per request (1 to 1000).") var pageSize: Int = 1000

    func validate() throws {
        guard (1...1000).contains(pageSize) else { throw ValidationError("--page-size must be from 1 to 1000") }
    }

    func run() throws {
        let stack = try global.openStore()
        let objects = try reporting { try stack.store.listAll(prefix: prefix, pageSize: pageSize) }
        if json { try printJSON(objects.map(objectJSON)) } else { for o in objects { print(o.key) } }
    }
}

struct StoreRemove: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Remove the objects KEY...; keys already gone are not an error.",
        discussion: "Uses the store's batch delete where it has one (S3 DeleteObjects, Swift bulk delete).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The keys to remove.") var keys: [String]

    func validate() throws {
        guard !keys.isEmpty else { throw ValidationError("name at least one key") }
        for key in keys { try validateKey(key) }
    }

    func run() throws {
        let stack = try global.openStore()
        let store = stack.store
        var failed: [String: StoreError] = [:]
        try reporting {
            if store.maxBatchDelete > 0 && keys.count > 1 {
                var start = 0
                while start < keys.count {
                    let batch = Array(keys[start..<min(keys.count, start + store.maxBatchDelete)])
                    failed.merge(try store.delete(keys: batch)) { a, _ in a }
                    start += batch.count
                }
            } else {
                for key in keys { try store.delete(key) }
            }
        }
        for (key, error) in failed.sorted(by: { $0.key < $1.key }) { printError("chunkctl: \(key): \(error)") }
        if !failed.isEmpty { throw Failure("\(failed.count) of \(keys.count) objects could not be removed") }
    }
}

struct StorePresign: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "presign",
        abstract: "Print a presigned GET URL for KEY (S3 only).",
        discussion: "Anyone holding the URL can read the object until it expires. No request is made.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The object's key.") var key: String
    @Option(help: "Seconds the URL stays valid (1 to 604800).") var expires: Int = 3600

    func validate() throws {
        guard (1...604_800).contains(expires) else { throw ValidationError("--expires must be from 1 to 604800 seconds") }
        try validateKey(key)
    }

    func run() throws {
        let stack = try global.openStore()
        guard let s3 = stack.backend as? S3Store else {
            throw Failure("presign works with backend=s3 only", code: Failure.usage)
        }
        print(s3.presignedURL(key, expires: expires))
    }
}
