// The only file that imports libxml2. S3 answers are small XML documents (listings of at most 1,000
// keys, errors, batch-delete results): each is turned into a plain Swift tree and freed at once.
import CXML2

/// An element of a parsed document: its local name, its text and its child elements.
public struct XMLElement: Sendable {
    public var name: String
    /// The concatenated text of this element and its descendants.
    public var text: String
    public var children: [XMLElement]

    public func child(_ name: String) -> XMLElement? { children.first { $0.name == name } }
    public func children(_ name: String) -> [XMLElement] { children.filter { $0.name == name } }
    /// The text of the first child with this name.
    public subscript(_ name: String) -> String? { child(name)?.text }

    /// Parses a document; nil when the bytes are not well-formed XML. Never reads the network or
    /// expands external entities.
    public static func parse(_ bytes: [UInt8]) -> XMLElement? {
        guard !bytes.isEmpty else { return nil }
        let options = Int32(XML_PARSE_NONET.rawValue | XML_PARSE_NOERROR.rawValue | XML_PARSE_NOWARNING.rawValue)
        let doc = bytes.withUnsafeBufferPointer { b in
            b.baseAddress!.withMemoryRebound(to: CChar.self, capacity: b.count) {
                xmlReadMemory($0, Int32(b.count), "response.xml", nil, options)
            }
        }
        guard let doc else { return nil }
        defer { xmlFreeDoc(doc) }
        guard let root = xmlDocGetRootElement(doc) else { return nil }
        return convert(root)
    }

    private static func convert(_ node: xmlNodePtr) -> XMLElement {
        let name = node.pointee.name.map { String(cString: $0) } ?? ""
        var text = ""
        var children: [XMLElement] = []
        var child = node.pointee.children
        while let c = child {
            switch c.pointee.type {
            case XML_ELEMENT_NODE:
                let element = convert(c)
                text += element.text
                children.append(element)
            case XML_TEXT_NODE, XML_CDATA_SECTION_NODE:
                if let content = c.pointee.content { text += String(cString: content) }
            default: break
            }
            child = c.pointee.next
        }
        return XMLElement(name: name, text: text, children: children)
    }
}
