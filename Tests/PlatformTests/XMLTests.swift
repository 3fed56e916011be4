import Testing
@testable import Platform

@Suite struct XMLTests {
    @Test func parsesAListing() throws {
        let xml = """
        <?xml version="1.0" encoding="UTF-8"?>
        <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name>
        <Contents><Key>a &amp; b/ü</Key><Size>12</Size><ETag>&quot;abc&quot;</ETag></Contents>
        <Contents><Key>c</Key><Size>0</Size></Contents>
        <IsTruncated>true</IsTruncated><NextContinuationToken>tok+/=</NextContinuationToken></ListBucketResult>
        """
        let doc = try #require(XMLElement.parse(Array(xml.utf8)))
        #expect(doc.name == "ListBucketResult")
        #expect(doc.children("Contents").map { $0["Key"] } == ["a & b/ü", "c"])
        #expect(doc.children("Contents").first?["ETag"] == "\"abc\"")
        #expect(doc["IsTruncated"] == "true")
        #expect(doc["NextContinuationToken"] == "tok+/=")
    }

    @Test func rejectsMalformedDocuments() {
        #expect(XMLElement.parse(Array("<Error><Code>x</Error>".utf8)) == nil)
        #expect(XMLElement.parse([]) == nil)
        #expect(XMLElement.parse(Array("not xml".utf8)) == nil)
    }

    @Test func doesNotExpandExternalEntities() throws {
        let xml = """
        <?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/hostname">]><Error><Code>&x;</Code></Error>
        """
        let doc = XMLElement.parse(Array(xml.utf8))
        // Either refused or left unexpanded: never the file's contents.
        let code = doc?["Code"] ?? ""
        #expect(code.isEmpty)
    }
}
