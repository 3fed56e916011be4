// The transfer engine: a bounded set of worker threads that run uploads and downloads against the
// store, many at once (up to `uploads=`), each streaming between a chunk file and the network.
// Blocking libcurl calls on a few threads keep the code plain; connections stay open per handle.
import Foundation
import Platform
import ObjectStore

public final class TransferEngine: @unchecked Sendable {
    public typealias Job = @Sendable () -> Void

    private let condition = NSCondition()
    private var queue: [(priority: Bool, job: Job)] = []
    private var running = 0
    private var stopping = false
    private var threads: [Thread] = []
    public let workers: Int

    public init(workers: Int) {
        self.workers = max(1, workers)
        for i in 0..<self.workers {
            let t = Thread { [weak self] in self?.work() }
            t.name = "chunkvol-transfer-\(i)"
            t.stackSize = 1 << 20
            threads.append(t)
            t.start()
        }
    }

    deinit { shutdown() }

    /// Queues a job; `urgent` jobs (a reader waiting on a download) go ahead of the others.
    public func submit(urgent: Bool = false, _ job: @escaping Job) {
        condition.lock()
        if urgent { queue.insert((true, job), at: queue.firstIndex { !$0.priority } ?? queue.count) }
        else { queue.append((false, job)) }
        condition.signal()
        condition.unlock()
    }

    /// Jobs queued or running.
    public var pending: Int {
        condition.lock(); defer { condition.unlock() }
        return queue.count + running
    }

    /// Waits until no job is queued or running, at most `timeout` seconds; false on timeout.
    public func waitIdle(timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock(); defer { condition.unlock() }
        while !queue.isEmpty || running > 0 {
            if !condition.wait(until: deadline) { return queue.isEmpty && running == 0 }
        }
        return true
    }

    /// Lets queued jobs finish, then ends the workers.
    public func shutdown() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    private func work() {
        while true {
            condition.lock()
            while queue.isEmpty && !stopping { condition.wait() }
            if queue.isEmpty && stopping { condition.unlock(); return }
            let next = queue.removeFirst()
            running += 1
            condition.unlock()
            next.job()
            condition.lock()
            running -= 1
            condition.broadcast()
            condition.unlock()
        }
    }
}
