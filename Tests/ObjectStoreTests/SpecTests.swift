// The code against the text in Spec/: every option key and every error kind is documented there,
// and nothing is documented that the code does not have.
import Foundation
import Testing
@testable import ObjectStore

@Suite struct SpecTests {
    static let specFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Spec")

    func spec(_ name: String) throws -> String {
        try String(contentsOf: SpecTests.specFolder.appendingPathComponent(name), encoding: .utf8)
    }

    /// First-column entries of the Markdown tables: "| `key` | ..." -> key.
    func tableKeys(_ text: String) -> [String] {
        text.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("| `") else { return nil }
            let cell = line.dropFirst(3)
            guard let end = cell.firstIndex(of: "`") else { return nil }
            return String(cell[..<end])
        }
    }

    @Test func optionTableMatchesTheParser() throws {
        let documented = tableKeys(try spec("options.md"))
        #expect(documented == Options.keys.map(\.name), "Spec/options.md's table lists the keys in the parser's order")
    }

    @Test func everyErrorKindIsDocumented() throws {
        let text = try spec("object-store.md")
        for kind in StoreError.Kind.allCases {
            #expect(text.contains("`\(kind.rawValue)`"), "Spec/object-store.md documents \(kind.rawValue)")
        }
    }

    @Test func retryableKindsAreTheDocumentedOnes() throws {
        let text = try spec("object-store.md")
        for kind in StoreError.Kind.allCases {
            let row = text.split(separator: "\n").first { $0.hasPrefix("| `\(kind.rawValue)`") }
            guard let row, row.hasSuffix("| yes |") || row.hasSuffix("| no |") else { continue }
            let documented = row.hasSuffix("| yes |")
            #expect(StoreError(kind, "x").isTransient == documented, "\(kind) retried: code and Spec agree")
        }
    }
}
