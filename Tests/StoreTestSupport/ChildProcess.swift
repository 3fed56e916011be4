// Runs a program (chunkctl) as a child and reports its exit status, output and peak memory, so a test
// can check both what it printed and that it streamed instead of buffering.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public struct ChildResult: Sendable {
    public let status: Int32
    public let output: [UInt8]
    public let stderr: String
    /// Peak resident set size of the child, in KiB (VmHWM, sampled until it exits).
    public let maxRSSKiB: Int
    public var stdout: String { String(decoding: output, as: UTF8.self) }
}

public enum ChildProcess {
    /// The chunkctl built beside the test bundle (.build/debug/chunkctl).
    public static var chunkctl: String {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("chunkctl").path
        if FileManager.default.isExecutableFile(atPath: beside) { return beside }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug/chunkctl").path
    }

    /// Starts `arguments` with exactly `environment` (plus PATH and HOME), standard input from
    /// `stdinFile`, output into the files named. Returns the child's pid.
    public static func spawn(_ executable: String, _ arguments: [String], environment: [String: String],
                             stdinFile: String? = nil, stdout: String = "/dev/null", stderr: String = "/dev/null") throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdinFile ?? "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        var env = environment
        let here = ProcessInfo.processInfo.environment
        env["PATH"] = env["PATH"] ?? here["PATH"]
        env["HOME"] = env["HOME"] ?? here["HOME"]
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        // The test runner's threads block signals; a child must start with none blocked and the
        // default handlers, or it would ignore the SIGTERM that stops it.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none); sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let rc = executable.contains("/") ? posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
                                          : posix_spawnp(&pid, executable, &actions, &attributes, argv, envp)
        guard rc == 0 else { throw CheckFailure("cannot start \(executable): \(String(cString: strerror(rc)))") }
        return pid
    }

    /// Waits for `pid`; returns its exit status (128 + signal when killed) and its peak RSS in KiB.
    /// The peak is the child's own VmHWM, read from /proc while it runs: wait4's ru_maxrss would
    /// include the test process's memory, which a posix_spawn child (CLONE_VM) inherits as its
    /// high-water mark at exec.
    public static func wait(_ pid: pid_t) -> (status: Int32, maxRSSKiB: Int) {
        var status: Int32 = 0
        var peak = 0
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { break }
            if r < 0 && errno != EINTR { break }
            if let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
               let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
               let kib = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") {
                peak = max(peak, kib)
            }
            usleep(5_000)
        }
        let exited = (status & 0x7f) == 0
        return (exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), peak)
    }

    /// Runs a program to its end, output captured. `umask`: the child's file mode mask (set by a
    /// /bin/sh that then execs the program; this process's own umask is left alone).
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String],
                           stdinFile: String? = nil, umask mask: mode_t? = nil) throws -> ChildResult {
        let folder = TemporaryFolder("child")
        let out = folder.path + "/stdout", err = folder.path + "/stderr"
        var program = executable, args = arguments
        if let mask {
            program = "/bin/sh"
            args = ["-c", "umask \(String(mask, radix: 8)) && exec \"$0\" \"$@\"", executable] + arguments
        }
        let pid = try spawn(program, args, environment: environment, stdinFile: stdinFile, stdout: out, stderr: err)
        let (status, rss) = wait(pid)
        return ChildResult(status: status,
                           output: (try? [UInt8](Data(contentsOf: URL(fileURLWithPath: out)))) ?? [],
                           stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "",
                           maxRSSKiB: rss)
    }

    public static func chunkctl(_ arguments: [String], environment: [String: String], stdinFile: String? = nil,
                                umask mask: mode_t? = nil) throws -> ChildResult {
        try run(chunkctl, arguments, environment: environment, stdinFile: stdinFile, umask: mask)
    }
}
