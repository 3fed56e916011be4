// The C API's text against the code: Spec/c-api.md's errno table is VolumeError.errno, kind by
// kind, and the header declares the functions the Spec lists (the install checks the library
// exports exactly the header's).
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import Chunkvol

@Suite struct CAPISpecTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    func text(_ path: String) throws -> String {
        try String(contentsOf: CAPISpecTests.root.appendingPathComponent(path), encoding: .utf8)
    }

    /// Names of the functions declared in C text: `name(` after a type, at the start of a line.
    func declaredFunctions(_ c: String) -> Set<String> {
        let pattern = try! NSRegularExpression(pattern: #"^[a-z_ ]+[ *](chunkvol_[a-z_]+)\("#, options: .anchorsMatchLines)
        let range = NSRange(c.startIndex..., in: c)
        return Set(pattern.matches(in: c, range: range).map { String(c[Range($0.range(at: 1), in: c)!]) })
    }

    @Test func errnoTableIsVolumeErrorsMapping() throws {
        let names: [String: Int32] = ["ENOENT": ENOENT, "EEXIST": EEXIST, "EBUSY": EBUSY, "EACCES": EACCES,
                                      "EINVAL": EINVAL, "EIO": EIO, "ENOSPC": ENOSPC, "ETIMEDOUT": ETIMEDOUT, "EBADF": EBADF]
        var documented: [VolumeError.Kind: String] = [:]
        for line in try text("Spec/c-api.md").split(separator: "\n") where line.hasPrefix("| E") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 2, names[cells[0]] != nil else { continue }
            for kind in cells[1].split(separator: ",") {
                let raw = kind.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "`"))
                let k = try #require(VolumeError.Kind(rawValue: raw), "Spec/c-api.md names an unknown kind \(raw)")
                documented[k] = cells[0]
            }
        }
        for kind in VolumeError.Kind.allCases {
            let name = try #require(documented[kind], "Spec/c-api.md's errno table lacks \(kind)")
            #expect(VolumeError(kind, "").errno == names[name], "\(kind) is documented as \(name)")
        }
    }

    @Test func headerDeclaresTheSpecsFunctions() throws {
        let header = declaredFunctions(try text("Sources/CChunkvolHeader/chunkvol.h"))
        let spec = declaredFunctions(try text("Spec/c-api.md"))
        #expect(header.count == 13)
        #expect(header == spec, "chunkvol.h and Spec/c-api.md declare the same functions")
    }
}
