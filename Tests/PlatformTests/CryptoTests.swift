import Testing
@testable import Platform

@Suite struct CryptoTests {
    @Test func sha256KnownAnswers() {
        #expect(Digest.sha256(Array("abc".utf8)).hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Digest.sha256([UInt8]()).hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func md5KnownAnswers() {
        #expect(Digest.md5(Array("abc".utf8)).hex == "900150983cd24fb0d6963f7d28e17f72")
        #expect(Digest.md5([UInt8]()).hex == "d41d8cd98f00b204e9800998ecf8427e")
    }

    @Test func hmacSHA256RFC4231() {
        // RFC 4231 test case 2.
        #expect(HMACSHA256.mac(key: Array("Jefe".utf8), Array("what do ya want for nothing?".utf8)).hex
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        // Test case 6: a key longer than the block size.
        #expect(HMACSHA256.mac(key: [UInt8](repeating: 0xaa, count: 131),
                               Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8)).hex
                == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }

    @Test(arguments: [Digest.Algorithm.sha256, .md5])
    func incrementalEqualsOneShot(_ algorithm: Digest.Algorithm) {
        var generator = SystemRandomNumberGenerator()
        let data = (0..<100_003).map { _ in UInt8.random(in: 0...255, using: &generator) }
        var whole = Digest(algorithm); whole.update(data)
        var pieces = Digest(algorithm)
        var i = 0
        for size in [1, 7, 4096, 65_536, 30_000] where i < data.count {
            pieces.update(data[i..<min(data.count, i + size)]); i += size
        }
        pieces.update(data[min(i, data.count)...])
        let a = whole.finish(), b = pieces.finish()
        #expect(a == b)
        #expect(a.count == (algorithm == .sha256 ? 32 : 16))
    }

    @Test func hexRoundTrip() {
        let bytes: [UInt8] = [0, 1, 0x7f, 0x80, 0xfe, 0xff]
        #expect(bytes.hex == "00017f80feff")
        #expect([UInt8](hex: "00017F80FEFF") == bytes)
        #expect([UInt8](hex: "abc") == nil)
        #expect([UInt8](hex: "zz") == nil)
    }
}
