import ArgumentParser
import ObjectStore

struct StoreCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check that the store is reachable, accepts the credentials and has the bucket or container.",
        discussion: "Exit 0 when all three hold; otherwise the cause in one sentence, exit 3 (unreachable, credentials refused) or 1.")
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let stack = try global.openStore()
        // One attempt: a check answers at once rather than retrying for minutes.
        try reporting { try stack.unretried.check() }
        print("ok: \(stack.store.name): reachable, credentials accepted, \(StoreCheck.containerWord(stack)) present")
    }

    static func containerWord(_ stack: StoreStack) -> String {
        switch stack.backend {
        case is S3Store: return "bucket"
        case is SwiftStore: return "container"
        default: return "folder"
        }
    }
}

struct StoreCreate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create the bucket (S3), container (Swift) or folder (local) the options name.",
        discussion: "Succeeds when it exists already and is yours.")
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let stack = try global.openStore()
        try reporting { try stack.store.createContainer() }
        print("created: \(stack.store.name)")
    }
}
