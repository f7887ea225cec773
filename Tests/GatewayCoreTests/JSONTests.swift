import Testing
@testable import GatewayCore

@Suite("Strict JSON")
struct JSONTests {
    @Test("parses nested documents and keeps member order and exact numbers")
    func parsesDocuments() throws {
        let value = try JSONValue.parse(#"{"b":1.50,"a":[true,false,null,"x\u00e9\n"],"c":{"d":-0.0e+2}}"#)
        #expect(value.objectValue?.keys == ["b", "a", "c"])
        #expect(value["b"] == .number("1.50"))
        #expect(value["a"]?.arrayValue?[3] == .string("xé\n"))
        #expect(value["c"]?["d"]?.doubleValue == -0.0)
    }

    @Test("refuses duplicate member names, small and large objects alike")
    func duplicateMembers() {
        #expect(throws: JSONError.self) { try JSONValue.parse(#"{"alg":"RS256","alg":"none"}"#) }
        let many = (0..<40).map { "\"k\($0)\":\($0)" }.joined(separator: ",")
        #expect(throws: JSONError.self) { try JSONValue.parse("{\(many),\"k7\":1}") }
        #expect((try? JSONValue.parse("{\(many)}")) != nil)
    }

    @Test("refuses malformed input", arguments: [
        "", " ", "{", "[1,]", "{\"a\":1,}", "01", "1.", ".5", "+1", "1e", "tru", "nul", "\"a", "\"\\x\"",
        "\"\u{01}\"", "\"\\ud800\"", "\"\\udc00x\"", "{\"a\" 1}", "[1 2]", "{} {}", "NaN", "'a'",
    ])
    func malformed(text: String) {
        #expect(throws: JSONError.self) { try JSONValue.parse(text) }
    }

    @Test("refuses invalid UTF-8: overlong, surrogate, truncated, out of range")
    func invalidUTF8() throws {
        for bytes: [UInt8] in [[0x22, 0xC0, 0xAF, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xE2, 0x82, 0x22],
                               [0x22, 0xF5, 0x80, 0x80, 0x80, 0x22], [0x22, 0x80, 0x22]] {
            #expect(throws: JSONError.self) { try JSONValue.parse(bytes) }
        }
        #expect(try JSONValue.parse([0x22, 0xE2, 0x82, 0xAC, 0x22]) == .string("€"))
    }

    @Test("limits nesting depth")
    func depth() {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: JSONError.self) { try JSONValue.parse(deep) }
        #expect((try? JSONValue.parse(deep, maxDepth: 128)) != nil)
    }

    @Test("surrogate pairs decode to one scalar")
    func surrogatePairs() throws {
        #expect(try JSONValue.parse(#""\ud83d\ude00""#) == .string("😀"))
    }

    @Test("serialises compactly, escapes controls, sorts keys when asked")
    func serialises() throws {
        let value: JSONValue = ["z": 1, "a": ["q\"\\\n\u{01}", true, nil]]
        #expect(value.serializedString() == #"{"z":1,"a":["q\"\\\n\u0001",true,null]}"#)
        #expect(value.serializedString(sortedKeys: true) == #"{"a":["q\"\\\n\u0001",true,null],"z":1}"#)
        #expect(try JSONValue.parse(value.serialized()) == value)
    }
}
