// The only file that imports OpenSSL's libcrypto: SHA-256, MD5 and HMAC-SHA256, incremental so a
// chunk can be hashed while it is written (one pass over the bytes, never a second read).
import CCrypto

/// An incremental message digest (SHA-256 or MD5) over libcrypto's EVP interface.
public struct Digest: ~Copyable {
    public enum Algorithm: Sendable { case sha256, md5 }
    private let ctx: OpaquePointer
    public let algorithm: Algorithm

    public init(_ algorithm: Algorithm) {
        self.algorithm = algorithm
        guard let ctx = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new failed: out of memory") }
        self.ctx = ctx
        let md = algorithm == .sha256 ? EVP_sha256() : EVP_md5()
        precondition(EVP_DigestInit_ex(ctx, md, nil) == 1, "EVP_DigestInit_ex failed")
    }

    deinit { EVP_MD_CTX_free(ctx) }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        precondition(EVP_DigestUpdate(ctx, base, bytes.count) == 1, "EVP_DigestUpdate failed")
    }

    public mutating func update(_ bytes: some Collection<UInt8>) {
        if let done: Void = bytes.withContiguousStorageIfAvailable({ update(UnsafeRawBufferPointer($0)) }) {
            return done
        }
        let copy = Array(bytes)
        copy.withUnsafeBytes { update($0) }
    }

    /// Ends the digest; the value can be used no further.
    public consuming func finish() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        precondition(EVP_DigestFinal_ex(ctx, &out, &length) == 1, "EVP_DigestFinal_ex failed")
        return Array(out.prefix(Int(length)))
    }

    public static func sha256(_ bytes: some Collection<UInt8>) -> [UInt8] {
        var d = Digest(.sha256); d.update(bytes); return d.finish()
    }

    public static func md5(_ bytes: some Collection<UInt8>) -> [UInt8] {
        var d = Digest(.md5); d.update(bytes); return d.finish()
    }
}

/// Incremental HMAC-SHA256 (OpenSSL 3's EVP_MAC), used by the SigV4 key derivation and signature.
public struct HMACSHA256: ~Copyable {
    private let ctx: OpaquePointer

    public init(key: some Collection<UInt8>) {
        guard let mac = EVP_MAC_fetch(nil, "HMAC", nil), let ctx = EVP_MAC_CTX_new(mac) else {
            fatalError("EVP_MAC_fetch(HMAC) failed")
        }
        EVP_MAC_free(mac)
        self.ctx = ctx
        let keyBytes = Array(key)
        let ok: Int32 = "SHA256".withCString { name in
            var params = [
                OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, UnsafeMutablePointer(mutating: name), 0),
                OSSL_PARAM_construct_end(),
            ]
            return keyBytes.withUnsafeBufferPointer { k in
                EVP_MAC_init(ctx, k.baseAddress, k.count, &params)
            }
        }
        precondition(ok == 1, "EVP_MAC_init failed")
    }

    deinit { EVP_MAC_CTX_free(ctx) }

    public mutating func update(_ bytes: some Collection<UInt8>) {
        let copy = Array(bytes)
        copy.withUnsafeBufferPointer { b in
            if let base = b.baseAddress { precondition(EVP_MAC_update(ctx, base, b.count) == 1) }
        }
    }

    public consuming func finish() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length = 0
        precondition(EVP_MAC_final(ctx, &out, &length, out.count) == 1, "EVP_MAC_final failed")
        return Array(out.prefix(length))
    }

    public static func mac(key: some Collection<UInt8>, _ message: some Collection<UInt8>) -> [UInt8] {
        var h = HMACSHA256(key: key); h.update(message); return h.finish()
    }
}

public extension Collection<UInt8> {
    /// Lower-case hexadecimal, as SigV4 and Swift's ETag want it.
    var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8](); out.reserveCapacity(count * 2)
        for b in self { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 0x0f)]) }
        return String(decoding: out, as: UTF8.self)
    }
}

public extension Array<UInt8> {
    /// Parses lower- or upper-case hexadecimal; nil for anything else.
    init?(hex: some StringProtocol) {
        let chars = Array(hex.utf8)
        guard chars.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        var out = [UInt8](); out.reserveCapacity(chars.count / 2)
        var i = 0
        while i < chars.count {
            guard let h = nibble(chars[i]), let l = nibble(chars[i + 1]) else { return nil }
            out.append(h << 4 | l); i += 2
        }
        self = out
    }
}
