// The model-based test (Tests/StoreTestSupport/VolumeModel.swift) on the Local backend.
import Foundation
import Testing
@testable import Chunkvol
import ObjectStore
import StoreTestSupport

@Suite struct VolumeModelTests {
    @Test(arguments: [1, 2, 3] as [UInt64])
    func localBackendMatchesTheModel(_ seed: UInt64) throws {
        let folder = TemporaryFolder("model")
        let stats = try runVolumeModel(storeOptions: "backend=local,path=\(folder.path)/store", environment: [:],
                                       cacheFolder: folder.path + "/cache", seed: seed, steps: 300)
        #expect(stats.writes > 50 && stats.reads > 30 && stats.reopens > 5)
    }

    @Test func manualPolicyMatchesTheModel() throws {
        let folder = TemporaryFolder("model")
        _ = try runVolumeModel(storeOptions: "backend=local,path=\(folder.path)/store", environment: [:],
                               cacheFolder: folder.path + "/cache", seed: 8, steps: 200, policy: "manual")
    }

    @Test func onClosePolicyMatchesTheModel() throws {
        let folder = TemporaryFolder("model")
        _ = try runVolumeModel(storeOptions: "backend=local,path=\(folder.path)/store", environment: [:],
                               cacheFolder: folder.path + "/cache", seed: 7, steps: 200, policy: "on-close")
    }
}
