import Testing

@testable import GatewayCore

/// The byte index must accept exactly what the strict tree parser accepts and read the same values: the
/// gateway relays bytes it indexed, so any disagreement would be a parser differential (FHIR-20).
@Suite("JSON byte index")
struct JSONIndexTests {
    /// Parses with both; the index's tree must equal the parser's, and both must fail alike.
    static func agree(_ bytes: [UInt8], maxDepth: Int = 64) -> Bool {
        let tree = try? JSONValue.parse(bytes, maxDepth: maxDepth)
        let index = try? JSONIndex(parsing: bytes, maxDepth: maxDepth)
        return tree == index?.root.value && (tree == nil) == (index == nil)
    }

    static let hostile: [String] = [
        #"{"a":1,"a":2}"#, #"{"a":1,"\u0061":2}"#, #"{"\u0061":1,"a":2}"#,
        // U+212A KELVIN SIGN is canonically equivalent to "K": the tree parser's String keys are equal.
        #"{"K":1,"\u212A":2}"#, "{\"K\":1,\"\u{212A}\":2}", "{\"\u{E9}\":1,\"e\u{301}\":2}",
        #"{"reference":"Patient\/pt-bob"}"#, #"{"reference":"Patient/pt-\u0062ob"}"#,
        #"{"x":"\ud800"}"#, #"{"x":"\udc00\ud800"}"#, #"{"x":"\ud83d\ude00"}"#, #"{"x":"a\u0000b"}"#,
        "{\"x\":\"a\u{01}b\"}", #"{"x":"\q"}"#, #"{"x":"\u12"}"#, #"{"x":01}"#, #"{"x":-}"#, #"{"x":1.}"#,
        #"{"x":1e}"#, #"{"x":1E+5}"#, #"{"x":-0.0e-2}"#, "[1,2,]", "[1 2]", "{\"a\" 1}", "{,}", "{\"a\":1,}",
        "[] []", " [ ] ", "", "   ", "nul", "truex", "[true,false,null]", "\"just a string\"", "{\"a\":{}}",
        #"{"a":"12345678\"90abcdef","b":"1234567\\","c":"abcdefghijklmnop\u00e9"}"#,
    ]

    @Test("accepts and refuses exactly what the strict parser does, hostile inputs included")
    func agreesOnHostileInputs() {
        for text in Self.hostile {
            #expect(Self.agree(Array(text.utf8)), "\(text)")
        }
        // Raw invalid UTF-8, overlong forms, surrogates encoded in UTF-8, and bytes split inside a word.
        for bytes: [UInt8] in [
            [0x22, 0xC0, 0xAF, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xF5, 0x80, 0x80, 0x80, 0x22],
            [0x22, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0xC3, 0x22], [0x22, 0xE2, 0x82, 0x22],
        ] {
            #expect(Self.agree(bytes), "\(bytes)")
        }
    }

    @Test("duplicate names are found in large objects, escaped or not, at any position")
    func duplicatesInLargeObjects() {
        let many = (0..<40).map { "\"k\($0)\":\($0)" }
        for position in [3, 15, 16, 17, 39] {
            for duplicate in ["\"k\(position)\"", "\"\\u006b\(position)\""] {
                let text = "{" + (many + ["\(duplicate):1"]).joined(separator: ",") + "}"
                #expect(Self.agree(Array(text.utf8)))
                #expect((try? JSONIndex(parsing: Array(text.utf8))) == nil)
            }
        }
        #expect(Self.agree(Array(("{" + many.joined(separator: ",") + "}").utf8)))
    }

    @Test("nesting is limited exactly like the tree parser")
    func depth() {
        for depth in [1, 63, 64, 65, 200] {
            let text = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
            #expect(Self.agree(Array(text.utf8)))
            #expect(((try? JSONIndex(parsing: Array(text.utf8))) != nil) == (depth <= 64))
        }
    }

    @Test("lookups, elements, byte ranges and strings read what the tree holds")
    func cursors() throws {
        let text = #" {"resourceType":"Bundle","entry":[{"full\u0055rl":"x"},{"b":[1,{"c":"Patient\/p"}]}],"n":-1.5} "#
        let bytes = Array(text.utf8)
        let index = try JSONIndex(parsing: bytes)
        let root = index.root
        #expect(root.isObject && root["resourceType"]?.isString("Bundle") == true)
        #expect(root["missing"] == nil && root["entry"]?["x"] == nil)
        let entries = try #require(root["entry"]?.elements)
        #expect(entries.count == 2)
        #expect(entries[0]["fullUrl"]?.stringValue == "x")
        #expect(entries[1]["b"]?.elements?[1]["c"]?.stringValue == "Patient/p")
        #expect(entries[1]["b"]?.elements?[1]["c"]?.plainStringBytes == nil)
        #expect(String(decoding: bytes[try #require(root["n"]).byteRange], as: UTF8.self) == "-1.5")
        #expect(String(decoding: bytes[entries[1].byteRange], as: UTF8.self) == #"{"b":[1,{"c":"Patient\/p"}]}"#)
        let tree = try JSONValue.parse(bytes)
        #expect(root.value == tree)
        var names: [String] = []
        root.forEachMember { key, _ in names.append(key.stringValue ?? "") }
        #expect(names == ["resourceType", "entry", "n"])
        // A non-ASCII lookup key equal under canonical equivalence matches, as in `JSONObject`.
        let kelvin = try JSONIndex(parsing: Array(#"{"K":1}"#.utf8))
        let kelvinTree = try JSONValue.parse(#"{"K":1}"#)
        #expect(kelvin.root["\u{212A}"] != nil && kelvinTree["\u{212A}"] != nil)
    }

    @Test("random mutations of valid documents are accepted or refused alike (deterministic fuzz)")
    func mutations() {
        let seeds = [
            #"{"resourceType":"Bundle","type":"searchset","entry":[{"fullUrl":"http://u/fhir/MedicationDispense/1","#
                + #""resource":{"resourceType":"MedicationDispense","id":"1","subject":{"reference":"Patient/p"},"#
                + #""note":[{"text":"caf\u00e9 \"quoted\" é 😀"}],"quantity":{"value":1.50e2}}}],"total":1}"#,
            #"[{"a":{"b":{"c":[null,true,false,"\\\/\b\f\n\r\t"]}}},-0,12345678901234567890]"#,
        ]
        var generator = SplitMix(seed: 20_261_203)
        let alphabet: [UInt8] = Array(#"{}[]",:\u0061 9-.eE+tfn"#.utf8) + [0x80, 0xC3, 0xA9, 0xED, 0x00, 0x1F]
        for seed in seeds {
            let original = Array(seed.utf8)
            for _ in 0..<1500 {
                var bytes = original
                for _ in 0..<Int(generator.next() % 3 + 1) {
                    let position = Int(generator.next() % UInt64(bytes.count))
                    switch generator.next() % 3 {
                    case 0: bytes[position] = alphabet[Int(generator.next() % UInt64(alphabet.count))]
                    case 1: bytes.remove(at: position)
                    default: bytes.insert(alphabet[Int(generator.next() % UInt64(alphabet.count))], at: position)
                    }
                    if bytes.isEmpty { bytes = original }
                }
                #expect(Self.agree(bytes), "\(String(decoding: bytes, as: UTF8.self))")
            }
        }
    }
}

/// A small deterministic generator (SplitMix64) for reproducible fuzzing.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
