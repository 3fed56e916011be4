// Processes sharing one cache folder, on the Local backend (Tests/StoreTestSupport/ConcurrencyScenario.swift).
import Foundation
import Testing
import ObjectStore
import StoreTestSupport

@Suite struct ConcurrencyTests {
    @Test func eightProcessesEightVolumesOneCache() throws {
        let folder = TemporaryFolder("concurrency-local")
        let storeOptions = "backend=local,path=\(folder.path)/store"
        let raw = try StoreStack.open(options: Options(parsing: storeOptions)).store
        try raw.createContainer()
        print("concurrency: " + (try ConcurrencyScenario.run(storeOptions: storeOptions, environment: [:], raw: raw, tag: "Conc")))
    }
}
