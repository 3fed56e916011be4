// The price table the cost report applies (Spec/prices.md): request prices per 1,000 by kind,
// storage per GB-month, transfer per GB. A small text file of "name = value" lines, so an
// operator can copy the built-in one and edit it for their provider.
import Foundation
import ObjectStore

struct PriceTable: Equatable {
    var name: String
    var currency: String
    /// Price of 1,000 requests of each kind.
    var perThousand: [RequestKind: Double]
    var storageGBMonth: Double
    var egressGB: Double
    var ingressGB: Double

    /// Prices are per GB of 2^30 bytes, as the providers bill.
    static let gigabyte = Double(1 << 30)

    /// AWS S3 Standard, US East (N. Virginia), list prices; the source and date are in Spec/prices.md.
    static let builtIn = """
        # AWS S3 Standard, US East (N. Virginia): list prices from https://aws.amazon.com/s3/pricing/
        # (written down 2026-11-29; source and checks in Spec/prices.md). Per 1,000 requests unless noted.
        name = AWS S3 Standard us-east-1 (list price)
        currency = USD
        request.PUT = 0.005
        request.POST = 0.005
        request.LIST = 0.005
        request.GET = 0.0004
        request.HEAD = 0.0004
        request.DELETE = 0
        request.AUTH = 0
        storage_gb_month = 0.023
        egress_gb = 0.09
        ingress_gb = 0
        """

    static func load(path: String?) throws -> PriceTable {
        guard let path else { return try parse(builtIn, source: "the built-in table") }
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw Failure("cannot read the price table \(path): \(error.localizedDescription)", code: Failure.usage)
        }
        return try parse(text, source: path)
    }

    static func parse(_ text: String, source: String) throws -> PriceTable {
        func bad(_ line: Int, _ why: String) -> Failure {
            Failure("price table \(source), line \(line): \(why); see Spec/prices.md", code: Failure.usage)
        }
        let numbers = ["storage_gb_month", "egress_gb", "ingress_gb"] + RequestKind.allCases.map { "request." + $0.rawValue }
        var values: [String: Double] = [:]
        var name: String? = nil, currency: String? = nil
        var seen: Set<String> = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init)?
                .trimmingCharacters(in: .whitespaces) ?? ""
            if line.isEmpty { continue }
            guard let eq = line.firstIndex(of: "=") else { throw bad(i + 1, "\(line.debugDescription) is not \"name = value\"") }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            // A name given twice is a mistake (which one was meant?), not a silent override.
            guard seen.insert(key).inserted else { throw bad(i + 1, "\(key.debugDescription) is given twice") }
            switch key {
            case "name": name = value
            case "currency":
                guard !value.isEmpty, value.count <= 8 else { throw bad(i + 1, "currency \(value.debugDescription) is not a currency code such as USD") }
                currency = value
            case _ where numbers.contains(key):
                guard let d = Double(value), d.isFinite, d >= 0 else {
                    throw bad(i + 1, "\(key) = \(value.debugDescription) is not a price (a number, 0 or more)")
                }
                values[key] = d
            default:
                throw bad(i + 1, "unknown name \(key.debugDescription); names are name, currency, " + numbers.joined(separator: ", "))
            }
        }
        // AUTH and ingress cost nothing at every provider we know; the rest must be said.
        let optional: Set<String> = ["request.AUTH", "ingress_gb"]
        let missing = numbers.filter { values[$0] == nil && !optional.contains($0) } + (currency == nil ? ["currency"] : [])
        guard missing.isEmpty else {
            throw Failure("price table \(source) lacks \(missing.joined(separator: ", ")); see Spec/prices.md", code: Failure.usage)
        }
        var perThousand: [RequestKind: Double] = [:]
        for k in RequestKind.allCases { perThousand[k] = values["request." + k.rawValue] ?? 0 }
        return PriceTable(name: name ?? source, currency: currency!, perThousand: perThousand,
                          storageGBMonth: values["storage_gb_month"]!, egressGB: values["egress_gb"]!,
                          ingressGB: values["ingress_gb"] ?? 0)
    }

    /// What `counts` cost: the requests, and the bytes moved.
    func price(_ counts: RequestCounts) -> (requests: Double, transfer: Double) {
        let requests = RequestKind.allCases.reduce(0.0) { $0 + Double(counts[$1]) / 1000 * (perThousand[$1] ?? 0) }
        let transfer = Double(counts.bytesDown) / PriceTable.gigabyte * egressGB + Double(counts.bytesUp) / PriceTable.gigabyte * ingressGB
        return (requests, transfer)
    }
}

/// A price, with enough digits for fractions of a cent.
func money(_ x: Double) -> String { String(format: x < 0.01 && x > 0 ? "%.6f" : "%.4f", x) }
