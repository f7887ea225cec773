import Testing
@testable import GatewayYAML

@Suite("YAML emitter")
struct YAMLEmitterTests {
    @Test("writes block YAML that parses back to the same tree")
    func roundTrip() throws {
        let tree = YAMLNode.mapping([
            ("clients", .sequence([
                .mapping([
                    ("id", .string("pharmacy-1")),
                    ("name", .string("Test Pharmacy: One #1")),
                    ("npis", .sequence([.string("1234567893")])),
                    ("roles", .sequence([])),
                    ("enabled", .bool(true)),
                    ("limit", .int(500)),
                    ("note", .string("yes")),
                    ("multi", .string("line one\nline \"two\"\t\u{1}\u{85}")),
                    ("empty", .string("")),
                    ("url", .string("https://idp.example/jwks.json")),
                    ("nested", .sequence([.sequence([.string("a")]), .mapping([])])),
                ]),
            ])),
        ])
        let text = YAMLEmitter.emit(tree, header: ["Registered requesters", ""])
        #expect(text.hasPrefix("# Registered requesters\n#\nclients:\n  - id: pharmacy-1\n"))
        let parsed = try YAMLParser.parse(text, file: "out.yaml")
        let client = try #require(parsed["clients"]?.sequenceItems?.first)
        #expect(try client.string(at: "name") == "Test Pharmacy: One #1")
        #expect(try client.stringList(at: "npis") == ["1234567893"])
        #expect(client["npis"]?.sequenceItems?.first?.scalarStyle == .doubleQuoted)
        #expect(try client.stringList(at: "roles") == [])
        #expect(try client.bool(at: "enabled"))
        #expect(try client.int(at: "limit") == 500)
        #expect(client["note"]?.scalarStyle == .doubleQuoted)
        #expect(try client.string(at: "multi") == "line one\nline \"two\"\t\u{1}\u{85}")
        #expect(client["empty"]?.scalarText == "")
        #expect(client["empty"]?.isNull == false)
        #expect(client["url"]?.scalarStyle == .plain)
        #expect(client["nested"]?.sequenceItems?.first?.sequenceItems?.first?.scalarText == "a")
    }

    @Test("quotes anything that would read back as another type or another text", arguments: [
        "true", "False", "yes", "off", "~", "null", "123", "-1", "1.5", ".5", "0x1F", "2026-01-01", ".inf",
        "", " lead", "trail ", "a: b", "#comment", "&anchor", "*alias", "- item", "key:", "[x]", "{y}", "!tag",
        "%dir", "@at", "`tick", "a #b", "é",
    ])
    func quoting(text: String) throws {
        #expect(!YAMLEmitter.isSafePlain(text))
        let written = YAMLEmitter.emit(.mapping([("k", .string(text))]))
        let back = try YAMLParser.parse(written)
        #expect(back["k"]?.scalarText == text)
        #expect(back["k"]?.isPlainScalar == false)
    }

    @Test("writes ordinary identifiers plain", arguments: [
        "pharmacy-1", "system/Patient.rs", "https://a.example/x", "Test Pharmacy One", "a_b", "/fhir",
    ])
    func plain(text: String) throws {
        #expect(YAMLEmitter.isSafePlain(text))
        #expect(YAMLEmitter.emit(.string(text)) == "\(text)\n")
    }

    @Test("writes empty collections and scalars at the root")
    func roots() {
        #expect(YAMLEmitter.emit(.mapping([])) == "{}\n")
        #expect(YAMLEmitter.emit(.sequence([])) == "[]\n")
        #expect(YAMLEmitter.emit(.int(3)) == "3\n")
    }
}
