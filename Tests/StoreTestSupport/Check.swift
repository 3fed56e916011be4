// Checks usable outside a test function: they throw, and the test that called them fails with the
// message. Shared by the unit and the integration test targets.
import Foundation

public struct CheckFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

public func check(_ condition: Bool, _ message: @autoclosure () -> String,
                  file: StaticString = #filePath, line: UInt = #line) throws {
    if !condition { throw CheckFailure("\(message()) [\(String(describing: file).split(separator: "/").last ?? ""):\(line)]") }
}

public func checkEqual<T: Equatable>(_ a: T, _ b: T, _ what: String,
                                     file: StaticString = #filePath, line: UInt = #line) throws {
    try check(a == b, "\(what): got \(a), expected \(b)", file: file, line: line)
}

/// Runs `body` and returns the error it throws; fails when it throws none or another type.
public func expectError<E: Error>(_ type: E.Type, _ what: String, file: StaticString = #filePath, line: UInt = #line,
                                  _ body: () throws -> Void) throws -> E {
    do { try body() } catch let e as E { return e } catch {
        throw CheckFailure("\(what): expected \(E.self), got \(error) [\(line)]")
    }
    throw CheckFailure("\(what): expected an error \(E.self), got success [\(line)]")
}

public func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed &+ 0x9E37_79B9_7F4A_7C15
    var out = [UInt8](repeating: 0, count: count)
    var i = 0
    while i < count {
        // splitmix64
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        for b in 0..<8 where i < count { out[i] = UInt8(truncatingIfNeeded: z >> (8 * UInt64(b))); i += 1 }
    }
    return out
}

/// A temporary folder removed when the value is released.
public final class TemporaryFolder: @unchecked Sendable {
    public let path: String
    public init(_ name: String = "chunkvol-test") {
        path = NSTemporaryDirectory() + "/\(name)-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    public func file(_ name: String, _ bytes: [UInt8]) throws -> String {
        let p = path + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }
}
