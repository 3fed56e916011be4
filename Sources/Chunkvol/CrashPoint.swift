// A seam for the crash tests: with CHUNKVOL_CRASH_AT=NAME:N in the environment, the process kills
// itself with SIGKILL the N-th time it reaches the point NAME, so a test can stop a writer exactly
// between two steps whose order the cache's guarantees depend on (Spec/cache.md lists the points).
// Without the variable a point costs one comparison.
import Platform
#if canImport(Glibc)
import Glibc
#endif

enum CrashPoint {
    private static let target: (name: String, count: Int)? = {
        guard let value = getenv("CHUNKVOL_CRASH_AT").map({ String(cString: $0) }),
              let colon = value.lastIndex(of: ":"), let n = Int(value[value.index(after: colon)...]), n > 0 else { return nil }
        return (String(value[..<colon]), n)
    }()
    private static let lock = Mutex()
    nonisolated(unsafe) private static var hits = 0

    static func reach(_ name: String) {
        guard let t = target, t.name == name else { return }
        let now = lock.withLock { () -> Int in hits += 1; return hits }
        if now == t.count { kill(getpid(), SIGKILL) }
    }
}
