import Testing
@testable import GatewayYAML

@Suite("YAML parser")
struct YAMLParserTests {
    private func parse(_ text: String) throws -> YAMLNode { try YAMLParser.parse(text, file: "t.yaml") }

    private func failure(_ text: String, limits: YAMLLimits = .default) -> YAMLDecodingError? {
        do {
            _ = try YAMLParser.parse(text, file: "bad.yaml", limits: limits)
            return nil
        } catch {
            return error
        }
    }

    @Test("builds mappings with keys in document order and marks on every node")
    func orderedMapping() throws {
        let root = try parse("""
            zeta: 1
            alpha:
              - one
              - two: 2
            middle: x
            """)
        #expect(root.keys == ["zeta", "alpha", "middle"])
        let alpha = try #require(root["alpha"])
        #expect(alpha.mark == YAMLMark(file: "t.yaml", line: 3, column: 3))
        #expect(alpha.path == "alpha")
        let second = try #require(alpha.sequenceItems?[1])
        #expect(second.path == "alpha[1]")
        #expect(second["two"]?.path == "alpha[1].two")
        #expect(second["two"]?.mark.line == 4)
        #expect(root["middle"]?.mark == YAMLMark(file: "t.yaml", line: 5, column: 9))
    }

    @Test("tells quoted scalars from plain ones")
    func scalarStyles() throws {
        let root = try parse("a: yes\nb: \"yes\"\nc: 'yes'\nd: !!str yes\ne: |\n  text\n")
        #expect(root["a"]?.scalarStyle == .plain)
        #expect(root["a"]?.isPlainScalar == true)
        #expect(root["b"]?.scalarStyle == .doubleQuoted)
        #expect(root["c"]?.scalarStyle == .singleQuoted)
        #expect(root["d"]?.isPlainScalar == false)
        #expect(root["d"]?.tag == YAMLNode.stringTag)
        #expect(root["e"]?.scalarText == "text\n")
        #expect(root["e"]?.scalarStyle == .literal)
    }

    @Test("accepts flow collections and an empty document")
    func flowAndEmpty() throws {
        let root = try parse("list: [a, 'b', 3]\nmap: {x: 1}\n")
        #expect(root["list"]?.sequenceItems?.map(\.scalarText) == ["a", "b", "3"])
        #expect(root["map"]?["x"]?.scalarText == "1")
        #expect(try parse("").isNull)
        #expect(try parse("# only a comment\n").isNull)
    }

    @Test("refuses duplicate mapping keys and names the first occurrence")
    func duplicateKeys() {
        let error = failure("a: 1\nb: 2\na: 3\n")
        #expect(error?.description == "bad.yaml:3:1: duplicate key 'a' (first at line 1)")
        // Quoting does not make a second key different.
        #expect(failure("a: 1\n\"a\": 2\n") != nil)
        #expect(failure("outer:\n  k: 1\n  k: 2\n")?.mark.line == 3)
    }

    @Test("refuses anchors and aliases (billion laughs)")
    func anchorsAndAliases() {
        let laughs = """
            a: &a ["lol", "lol"]
            b: [*a, *a]
            """
        #expect(failure(laughs)?.problem == "anchors (&name) are not allowed")
        #expect(failure("a: &x 1\n")?.problem == "anchors (&name) are not allowed")
        #expect(failure("a: *x\n") != nil)
    }

    @Test("refuses application tags, merge keys, complex keys and several documents")
    func refusedConstructs() {
        #expect(failure("a: !!python/object:os.system x\n")?.problem.contains("not allowed") == true)
        #expect(failure("a: !custom x\n")?.problem.contains("tag") == true)
        #expect(failure("<<: {a: 1}\nb: 2\n")?.problem == "merge keys (<<) are not allowed")
        #expect(failure("? [a, b]\n: 1\n")?.problem == "mapping keys must be scalars")
        #expect(failure("a: 1\n---\nb: 2\n")?.problem == "only one YAML document per file is allowed")
    }

    @Test("reports syntax errors with line and column")
    func syntaxErrors() {
        let unclosed = failure("a: [1, 2\nb: 3\n")
        #expect(unclosed != nil)
        #expect(unclosed?.mark.file == "bad.yaml")
        let badIndent = failure("a:\n  b: 1\n c: 2\n")
        #expect(badIndent?.mark.line == 3)
        #expect(failure("a: \"unterminated\n") != nil)
        #expect(failure("a: b: c\n") != nil)
        #expect(failure("a:\tb\n\u{0}") != nil)
    }

    @Test("refuses invalid UTF-8")
    func invalidUTF8() {
        #expect(throws: YAMLDecodingError.self) {
            try YAMLParser.parse(bytes: [0x61, 0x3A, 0x20, 0xC3, 0x28, 0x0A], file: "bad.yaml")
        }
    }

    @Test("enforces size, depth and node limits")
    func limits() {
        let deep = String(repeating: "[", count: 70) + String(repeating: "]", count: 70)
        #expect(failure(deep)?.problem == "nesting deeper than 64 levels")
        let wide = "[" + Array(repeating: "a", count: 50).joined(separator: ",") + "]"
        #expect(failure(wide, limits: YAMLLimits(maxNodes: 20))?.problem == "more than 20 nodes")
        #expect(failure(String(repeating: "a", count: 100), limits: YAMLLimits(maxBytes: 10)) != nil)
    }

    @Test("reads a file from disk and fails clearly for a missing one")
    func files() throws {
        let error = #expect(throws: YAMLDecodingError.self) {
            try YAMLParser.parse(contentsOfFile: "/nonexistent/gateway.yaml")
        }
        #expect(error?.description == "/nonexistent/gateway.yaml:1:1: cannot read file: no such file")
    }
}
