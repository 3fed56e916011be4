import Foundation
import Testing
@testable import ObjectStore
import StoreTestSupport

/// The Local backend against the store contract, plus what is special to it.
@Suite struct LocalStoreTests {
    func store() throws -> (LocalStore, TemporaryFolder) {
        let folder = TemporaryFolder("local-store")
        let store = LocalStore(root: folder.path + "/objects")
        try store.createContainer()
        return (store, folder)
    }

    @Test func roundTrip() throws { let (s, f) = try store(); try StoreContract.roundTrip(s, prefix: "p/"); _ = f }
    @Test func checksums() throws { let (s, f) = try store(); try StoreContract.checksums(s, prefix: "p/"); _ = f }
    @Test func awkwardKeys() throws { let (s, f) = try store(); try StoreContract.awkwardKeyNames(s, prefix: "k/"); _ = f }
    @Test func paging() throws { let (s, f) = try store(); try StoreContract.paging(s, prefix: "p/"); _ = f }
    @Test func batchDelete() throws { let (s, f) = try store(); try StoreContract.batchDelete(s, prefix: "b/"); _ = f }

    @Test func keysThatAreNotPathsStillRoundTrip() throws {
        let (s, f) = try store(); _ = f
        for key in ["a//b", "./x", "../y", "z/..", "/lead", ".cvtmp-looks-temporary", "%41"] {
            _ = try s.put(key, body: .bytes(Array(key.utf8)), checksums: .none)
            #expect(try s.get(key, range: nil, into: .memory).bytes == Array(key.utf8), "key \(key)")
        }
        let listed = try s.listAll(prefix: "").map(\.key).sorted()
        #expect(listed == ["a//b", "./x", "../y", "z/..", "/lead", ".cvtmp-looks-temporary", "%41"].sorted())
        // Nothing escaped the store's folder.
        #expect(!FileManager.default.fileExists(atPath: f.path + "/y"))
    }

    @Test func missingFolderIsContainerNotFound() throws {
        let folder = TemporaryFolder()
        let s = LocalStore(root: folder.path + "/absent")
        #expect { try s.check() } throws: { ($0 as? StoreError)?.kind == .containerNotFound }
        #expect { _ = try s.put("k", body: .bytes([1]), checksums: .none) } throws: { ($0 as? StoreError)?.kind == .containerNotFound }
    }

    @Test func writesAreAtomicAndLeaveNoTemporaryFiles() throws {
        let (s, f) = try store()
        _ = try s.put("v/0000", body: .bytes([1, 2, 3]), checksums: .none)
        _ = try? s.put("v/0001", body: .bytes([1]), checksums: Checksums(sha256: [0]))
        let names = try FileManager.default.contentsOfDirectory(atPath: f.path + "/objects/v")
        #expect(names == ["0000"])
        // Emptied folders go with their last object.
        try s.delete("v/0000")
        #expect(!FileManager.default.fileExists(atPath: f.path + "/objects/v"))
    }
}

/// The decorators over the Local backend: counts and retries exact.
@Suite struct DecoratorTests {
    @Test func countingCountsEachOperationByKind() throws {
        let folder = TemporaryFolder()
        let ledger = RequestLedger()
        let local = LocalStore(root: folder.path)
        let store = CountingStore(local, ledger: ledger)
        _ = try store.put("a", body: .bytes([1, 2, 3]), checksums: .none)
        _ = try store.put("b", body: .bytes([4]), checksums: .none)
        _ = try store.get("a", range: nil, into: .memory)
        _ = try store.get("a", range: ByteRange(1, 1), into: .memory)
        _ = try store.head("a")
        _ = try? store.head("missing")
        _ = try store.list(prefix: "", continuation: nil, limit: 10)
        try store.delete("a")
        _ = try store.delete(keys: ["b", "c"])   // no batch delete locally: one DELETE each
        let c = ledger.snapshot
        #expect(c[.PUT] == 2 && c[.GET] == 2 && c[.HEAD] == 2 && c[.LIST] == 1 && c[.DELETE] == 3 && c[.POST] == 0)
        #expect(c.bytesUp == 4 && c.bytesDown == 4)
        #expect(c.failures == 0 && c.retries == 0)
    }

    @Test func retryingRepeatsTransientErrorsOnly() throws {
        let folder = TemporaryFolder()
        let ledger = RequestLedger()
        let failures = Counter()
        let plan: FaultInjectingStore.Plan = { op, key in
            if op == .put && key == "flaky" && failures.next() <= 3 { return StoreError(.throttled, "injected 503", status: 503) }
            if op == .get && key == "denied" { return StoreError(.accessDenied, "injected 403", status: 403) }
            return nil
        }
        let store = RetryingStore(CountingStore(FaultInjectingStore(LocalStore(root: folder.path), plan: plan), ledger: ledger),
                                  policy: RetryPolicy(retries: 5, baseDelay: 0.001, maxDelay: 0.01), ledger: ledger)
        _ = try store.put("flaky", body: .bytes([9]), checksums: .none)
        #expect(try store.get("flaky", range: nil, into: .memory).bytes == [9])
        var c = ledger.snapshot
        #expect(c[.PUT] == 4, "three failed attempts and the one that worked")
        #expect(c.retries == 3 && c.failures == 3)

        #expect { _ = try store.get("denied", range: nil, into: .memory) } throws: { ($0 as? StoreError)?.kind == .accessDenied }
        c = ledger.snapshot
        #expect(c.retries == 3, "a 403 is not retried")
        #expect(c[.GET] == 2)
    }

    @Test func retryingStopsAfterItsBudget() throws {
        let folder = TemporaryFolder()
        let ledger = RequestLedger()
        let store = RetryingStore(CountingStore(FaultInjectingStore(LocalStore(root: folder.path)) { _, _ in
            StoreError(.connectionLost, "injected reset")
        }, ledger: ledger), policy: RetryPolicy(retries: 4, baseDelay: 0.001, maxDelay: 0.001), ledger: ledger)
        #expect { _ = try store.head("x") } throws: { ($0 as? StoreError)?.kind == .connectionLost }
        #expect(ledger.snapshot[.HEAD] == 5 && ledger.snapshot.retries == 4 && ledger.snapshot.failures == 5)
    }

    @Test func fullJitterStaysUnderTheCeiling() {
        let p = RetryPolicy(retries: 10, baseDelay: 0.1, maxDelay: 2)
        for attempt in 0..<12 {
            let ceiling = min(2, 0.1 * pow(2, Double(attempt)))
            for _ in 0..<50 { #expect((0...ceiling).contains(p.delay(beforeRetry: attempt))) }
        }
    }
}

final class Counter: @unchecked Sendable {
    private var value = 0
    private let lock = NSLock()
    func next() -> Int { lock.lock(); defer { lock.unlock() }; value += 1; return value }
}
