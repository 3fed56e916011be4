// The service catalog of a Keystone v3 token, and the choice of the object-store endpoint in it:
// the interface asked for (public unless told), and the region when the service has several.

public struct KeystoneCatalog: Sendable, Decodable {
    public struct Service: Sendable, Decodable {
        public var type: String
        public var name: String?
        public var endpoints: [Endpoint]
    }

    public struct Endpoint: Sendable, Decodable {
        public var interface: String
        /// Keystone gives both; older deployments only `region`.
        public var region: String?
        public var region_id: String?
        public var url: String
        var regionName: String? { region_id ?? region }
    }

    public var services: [Service]

    public init(services: [Service]) { self.services = services }
    public init(from decoder: Decoder) throws { services = try [Service](from: decoder) }

    /// The URL of the `type` service for `interface`, in `region` when given. A catalog with the
    /// service in several regions and no region named is an error that lists them: guessing would
    /// send the data to whichever region came first.
    public func endpoint(type: String, interface: String, region: String?) throws -> String {
        let candidates = services.filter { $0.type == type }.flatMap(\.endpoints)
        guard !candidates.isEmpty else {
            throw StoreError(.invalidRequest, "the Keystone catalog has no \(type) service; "
                             + "set OS_STORAGE_URL (or storage_url=) to the Swift account URL")
        }
        let onInterface = candidates.filter { $0.interface == interface }
        guard !onInterface.isEmpty else {
            let have = Set(candidates.map(\.interface)).sorted().joined(separator: ", ")
            throw StoreError(.invalidRequest, "the Keystone catalog has no \(interface) endpoint for \(type) (it has: \(have)); "
                             + "set OS_INTERFACE (or interface=)")
        }
        let chosen: [Endpoint]
        if let region {
            chosen = onInterface.filter { $0.regionName == region || $0.region == region }
            guard !chosen.isEmpty else {
                throw StoreError(.invalidRequest, "the Keystone catalog has no \(type) endpoint in region \(region) "
                                 + "(regions: \(KeystoneCatalog.regions(onInterface))); check OS_REGION_NAME or region=")
            }
        } else {
            chosen = onInterface
            let regions = Set(chosen.map { $0.regionName ?? "" })
            guard regions.count == 1 else {
                throw StoreError(.invalidRequest, "the Keystone catalog has \(type) endpoints in several regions "
                                 + "(\(KeystoneCatalog.regions(onInterface))): set OS_REGION_NAME or region= to one of them")
            }
        }
        return chosen[0].url
    }

    private static func regions(_ endpoints: [Endpoint]) -> String {
        Set(endpoints.map { $0.regionName ?? "(none)" }).sorted().joined(separator: ", ")
    }
}
