// The option string every subcommand takes: -o OPTIONS, else CHUNKVOL_OPTIONS.
import ArgumentParser
import Foundation
import ObjectStore
import Chunkvol

struct GlobalOptions: ParsableArguments {
    @Option(name: [.customShort("o"), .customLong("options")],
            help: ArgumentHelp("The store's option string (default: $CHUNKVOL_OPTIONS).",
                               discussion: "Keys: " + Options.keys.map(\.name).joined(separator: ", ")
                                + ". See Spec/options.md.",
                               valueName: "OPTIONS"))
    var options: String?

    /// `-o OPTIONS` given before the subcommand's name (`chunkctl -o … store check`).
    nonisolated(unsafe) static var leading: String?

    /// Removes -o/--options and its value from the words before the first subcommand name.
    static func takeLeadingOptions(_ arguments: inout [String]) -> String? {
        var found: String? = nil
        var i = 0
        while i < arguments.count, arguments[i].hasPrefix("-") {
            let word = arguments[i]
            if (word == "-o" || word == "--options"), i + 1 < arguments.count {
                found = arguments[i + 1]; arguments.removeSubrange(i...(i + 1))
            } else if word.hasPrefix("--options=") {
                found = String(word.dropFirst("--options=".count)); arguments.remove(at: i)
            } else if word.hasPrefix("-o"), word.count > 2 {
                found = String(word.dropFirst(2)); arguments.remove(at: i)
            } else {
                i += 1
            }
        }
        return found
    }

    func parsed() throws -> Options {
        let text = options ?? GlobalOptions.leading ?? ProcessInfo.processInfo.environment["CHUNKVOL_OPTIONS"] ?? ""
        do { return try Options(parsing: text) } catch let e as OptionError {
            throw Failure(e.sentence, code: Failure.usage)
        }
    }

    /// The configured store stack; warnings (TLS verification off) go to standard error every time.
    func openStore() throws -> StoreStack {
        let options = try parsed()
        // One string serves the store and the volume layer: a bad chunksize=, upload=... is a usage
        // error for `store` verbs too, not silently ignored.
        do { _ = try VolumeConfiguration(options: options, environment: ProcessInfo.processInfo.environment) } catch let e as OptionError {
            throw Failure(e.sentence, code: Failure.usage)
        }
        let stack = try reporting { try StoreStack.open(options: options) }
        for w in stack.warnings { printError("chunkctl: " + w) }
        return stack
    }
}
