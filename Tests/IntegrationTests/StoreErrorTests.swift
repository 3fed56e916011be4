// Refused credentials and missing buckets, from real servers, as typed errors with plain sentences.
import Foundation
import Testing
import ObjectStore
import StoreTestSupport

@Suite("Store errors from real servers") struct StoreErrorTests {
    @Test(arguments: StoreAPI.allCases) func wrongSecretIsBadCredentials(_ api: StoreAPI) throws {
        guard let server = try TestServers.require(api) else { return }
        let container = TestServers.containerName("cred")
        _ = try server.open(container: container)
        let secret = "wrong-\(UUID().uuidString)"
        let bad = try server.open(container: container, environment: ["AWS_SECRET_ACCESS_KEY": secret, "ST_KEY": secret], create: false)
        #expect {
            _ = try bad.unretried.put("k", body: .bytes([1]), checksums: .none)
        } throws: { error in
            guard let e = error as? StoreError else { return false }
            let text = e.description
            let plain = api.isS3 ? text.contains("secret key does not match") : text.contains("user or key is wrong")
            return e.kind == .badCredentials && plain && !text.contains(secret)
        }
        // The retrying stack does not retry a refusal: one attempt only.
        let ledger = RequestLedger()
        let counted = try server.open(container: container, environment: ["AWS_SECRET_ACCESS_KEY": secret, "ST_KEY": secret],
                                      ledger: ledger, create: false)
        #expect(throws: StoreError.self) { try counted.store.check() }
        #expect(ledger.snapshot.retries == 0)
    }

    @Test(arguments: [StoreAPI.saioS3, .rgwS3]) func unknownAccessKeyIsBadCredentials(_ api: StoreAPI) throws {
        guard let server = try TestServers.require(api) else { return }
        let stack = try server.open(container: TestServers.containerName("akid"), environment: ["AWS_ACCESS_KEY_ID": "NOSUCHKEY123"], create: false)
        #expect { try stack.unretried.check() } throws: { ($0 as? StoreError)?.kind == .badCredentials }
    }

    @Test(arguments: StoreAPI.allCases) func missingContainerIsNamed(_ api: StoreAPI) throws {
        guard let server = try TestServers.require(api) else { return }
        let name = TestServers.containerName("absent")
        let stack = try server.open(container: name, create: false)
        #expect { try stack.store.check() } throws: { error in
            guard let e = error as? StoreError else { return false }
            return e.kind == .containerNotFound && e.description.contains(name) && e.description.contains("does not exist")
        }
        #expect { _ = try stack.store.put("k", body: .bytes([1]), checksums: .none) } throws: {
            ($0 as? StoreError)?.kind == .containerNotFound
        }
    }

    @Test func unreachableStoreIsNamed() throws {
        let stack = try StoreStack.open(options: Options(parsing: "backend=s3,endpoint=http://127.0.0.1:9,bucket=abc,connect_timeout=2"),
                                        environment: ["AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"])
        #expect { try stack.unretried.check() } throws: {
            ($0 as? StoreError)?.kind == .unreachable && "\($0)".contains("cannot be reached")
        }
    }
}
