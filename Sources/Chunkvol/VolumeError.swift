// The volume layer's error: a kind that maps onto an errno for the C API, and a sentence.
#if canImport(Glibc)
import Glibc
#endif
import ObjectStore
import ChunkCache

public struct VolumeError: Error, CustomStringConvertible, Sendable {
    public enum Kind: String, CaseIterable, Sendable {
        case notFound, exists, busy, accessDenied, invalid, io, noSpace, timedOut, badHandle, corrupt
    }
    public var kind: Kind
    public var sentence: String
    public init(_ kind: Kind, _ sentence: String) { self.kind = kind; self.sentence = sentence }
    public var description: String { sentence }

    /// The errno the C API sets for this error.
    public var errno: Int32 {
        switch kind {
        case .notFound: return ENOENT
        case .exists: return EEXIST
        case .busy: return EBUSY
        case .accessDenied: return EACCES
        case .invalid: return EINVAL
        case .io, .corrupt: return EIO
        case .noSpace: return ENOSPC
        case .timedOut: return ETIMEDOUT
        case .badHandle: return EBADF
        }
    }

    /// Any error of the layers below as a VolumeError; `what` names the operation for the sentence.
    public static func from(_ error: Error, _ what: String) -> VolumeError {
        switch error {
        case let e as VolumeError: return e
        case let e as StoreError:
            switch e.kind {
            case .badCredentials, .accessDenied: return VolumeError(.accessDenied, "\(what): \(e)")
            case .notFound: return VolumeError(.notFound, "\(what): \(e)")
            default: return VolumeError(.io, "\(what): \(e)")
            }
        case let e as CacheError:
            if e.errno == ENOSPC { return VolumeError(.noSpace, "\(what): the cache's disk is full: \(e)") }
            if e.errno == EBUSY { return VolumeError(.busy, "\(what): \(e)") }
            return VolumeError(.io, "\(what): \(e)")
        case let e as OptionError: return VolumeError(.invalid, e.sentence)
        default: return VolumeError(.io, "\(what): \(error)")
        }
    }
}
