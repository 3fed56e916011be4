// chunkctl: the operator's tool. One type per subcommand; this file holds the root command and the
// exit codes (Spec/exit-codes.md): 0 success, 1 failure or problems found, 2 usage error,
// 3 store unreachable or credentials refused.
import ArgumentParser
import Foundation
import ObjectStore
import Chunkvol

@main
struct Chunkctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chunkctl",
        abstract: "Inspect and move chunkvol volumes and the object stores that hold them.",
        discussion: """
        Every command takes the store's option string with -o OPTIONS or in CHUNKVOL_OPTIONS, such as:
          backend=s3,endpoint=http://127.0.0.1:7480,bucket=backups

        Secrets come from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, ST_USER, ST_KEY, OS_PASSWORD, OS_APPLICATION_CREDENTIAL_SECRET, ...) or from a credentials file, never from the options.

        Exit codes: 0 success; 1 the operation failed or found problems; 2 usage error; 3 the store is unreachable or refused the credentials.
        """,
        subcommands: [Status.self, Ls.self, Inspect.self, Import.self, Export.self, Flush.self, Evict.self, Verify.self, Repair.self,
                      Truncate.self, Rm.self, Cost.self, Stats.self, StoreCommand.self])

    static func main() {
        do {
            var arguments = Array(CommandLine.arguments.dropFirst())
            GlobalOptions.leading = GlobalOptions.takeLeadingOptions(&arguments)
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch let failure as Failure {
            FileHandle.standardError.write(Data(("chunkctl: " + failure.message + "\n").utf8))
            Foundation.exit(failure.code)
        } catch {
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if !message.isEmpty {
                let stream = code == .success ? FileHandle.standardOutput : FileHandle.standardError
                stream.write(Data((message + "\n").utf8))
            }
            // ArgumentParser's usage errors exit 64; chunkctl documents 2.
            Foundation.exit(code == .success ? 0 : code == .validationFailure ? 2 : code.rawValue)
        }
    }
}

/// A failure to report in one sentence, with its exit code.
struct Failure: Error {
    var message: String
    var code: Int32

    static let failed: Int32 = 1
    static let usage: Int32 = 2
    static let unreachable: Int32 = 3

    init(_ message: String, code: Int32 = Failure.failed) { self.message = message; self.code = code }

    /// The exit code a store error deserves: 3 when the store cannot be reached or refuses us.
    init(_ error: StoreError) {
        switch error.kind {
        case .unreachable, .badCredentials, .tls, .timeout: self.init(error.description, code: Failure.unreachable)
        default: self.init(error.description, code: Failure.failed)
        }
    }

    /// Any error from below, in words.
    static func from(_ error: Error) -> Failure {
        switch error {
        case let f as Failure: return f
        case let e as StoreError: return Failure(e)
        case let e as OptionError: return Failure(e.sentence, code: Failure.usage)
        case let e as VolumeError: return Failure(e)
        default: return Failure(String(describing: error))
        }
    }
}

/// Runs `body`, turning every error into a Failure with its exit code.
func reporting<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch { throw Failure.from(error) }
}

func printError(_ text: String) { FileHandle.standardError.write(Data((text + "\n").utf8)) }
