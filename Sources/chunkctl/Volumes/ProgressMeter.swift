// Flush progress: a bar redrawn in place on a terminal, a plain line every few seconds otherwise
// (logs of a cron job stay readable). Both on standard error; standard output keeps the result.
import Foundation
import Chunkvol

final class ProgressMeter: @unchecked Sendable {
    private let terminal: Bool
    private let started = Date()
    private var lastLine = Date.distantPast
    private var drawn = false

    init(terminal: Bool) { self.terminal = terminal }

    func show(_ p: FlushProgress) {
        guard p.bytesTotal > 0 else { return }
        let elapsed = max(Date().timeIntervalSince(started), 0.001)
        let rate = Double(p.bytesDone) / elapsed
        let left = rate > 0 ? Double(p.bytesTotal - p.bytesDone) / rate : 0
        let mib = { (b: UInt64) in String(format: "%.1f", Double(b) / 1_048_576) }
        let figures = "\(mib(p.bytesDone)) of \(mib(p.bytesTotal)) MiB, \(String(format: "%.1f", rate / 1_048_576)) MiB/s, "
            + (p.bytesDone >= p.bytesTotal ? "done" : "\(Int(left.rounded(.up))) s left") + ", \(p.chunksLeft) chunk(s) to go"
        if terminal {
            let width = 30
            let filled = Int(Double(width) * Double(p.bytesDone) / Double(p.bytesTotal))
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            FileHandle.standardError.write(Data("\r[\(bar)] \(figures)\u{1B}[K".utf8))
            drawn = true
        } else if Date().timeIntervalSince(lastLine) >= 5 || p.bytesDone >= p.bytesTotal {
            FileHandle.standardError.write(Data("flush: \(figures)\n".utf8))
            lastLine = Date()
        }
    }

    func finish() { if drawn { FileHandle.standardError.write(Data("\n".utf8)) } }
}
