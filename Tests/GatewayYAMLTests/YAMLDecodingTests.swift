import Testing
@testable import GatewayYAML

@Suite("YAML decoding helpers")
struct YAMLDecodingTests {
    private let document = """
        server:
          name: gateway-1
          port: 8443
          negative: -3
          quoted_port: "8443"
          enabled: true
          legacy_bool: yes
          quoted_bool: "true"
          timeout: 10s
          short: 500ms
          long: 2m
          hour: 1.5h
          bare_duration: 10
          body: 8MiB
          small: 512KiB
          raw: 1048576
          decimal: 2MB
          hosts: [a.example, b.example]
          single_host: a.example
          nothing: ~
          typo_key: 1
        """

    private func server() throws -> YAMLNode {
        try #require(try YAMLParser.parse(document, file: "gateway.yaml")["server"])
    }

    /// The description of the decoding error `body` throws, or nil when it succeeds.
    private func error(_ body: (YAMLNode) throws -> Void) throws -> String? {
        let node = try server()
        do {
            try body(node)
            return nil
        } catch let error as YAMLDecodingError {
            return error.description
        }
    }

    @Test("reads strings, integers and booleans strictly")
    func scalars() throws {
        let node = try server()
        #expect(try node.string(at: "name") == "gateway-1")
        #expect(try node.string(at: "port") == "8443")
        #expect(try node.int(at: "port") == 8443)
        #expect(try node.int(at: "negative") == -3)
        #expect(try node.bool(at: "enabled"))
        #expect(try error { _ = try $0.int(at: "quoted_port") }
            == "gateway.yaml:5:16: server.quoted_port: expected an integer, found a quoted string")
        #expect(try error { _ = try $0.bool(at: "legacy_bool") }
            == "gateway.yaml:7:16: server.legacy_bool: expected true or false, found a scalar")
        #expect(try error { _ = try $0.bool(at: "quoted_bool") } != nil)
        #expect(try error { _ = try $0.int(at: "name") } != nil)
    }

    @Test("reads durations with units and refuses bare numbers")
    func durations() throws {
        let node = try server()
        #expect(try node.duration(at: "timeout") == 10)
        #expect(try node.duration(at: "short") == 0.5)
        #expect(try node.duration(at: "long") == 120)
        #expect(try node.duration(at: "hour") == 5400)
        #expect(try error { _ = try $0.duration(at: "bare_duration") }?.contains("expected a duration") == true)
        #expect(try error { _ = try $0.duration(at: "name") } != nil)
    }

    @Test("reads byte sizes in binary and decimal units")
    func byteSizes() throws {
        let node = try server()
        #expect(try node.byteSize(at: "body") == 8 << 20)
        #expect(try node.byteSize(at: "small") == 512 * 1024)
        #expect(try node.byteSize(at: "raw") == 1_048_576)
        #expect(try node.byteSize(at: "decimal") == 2_000_000)
        #expect(try error { _ = try $0.byteSize(at: "timeout") }?.contains("expected a size") == true)
    }

    @Test("reads string lists and refuses a single scalar")
    func lists() throws {
        let node = try server()
        #expect(try node.stringList(at: "hosts") == ["a.example", "b.example"])
        #expect(try error { _ = try $0.stringList(at: "single_host") }
            == "gateway.yaml:19:16: server.single_host: expected a list of strings, found a scalar")
    }

    @Test("treats absent and null keys alike: missing for required, nil for optional")
    func optionals() throws {
        let node = try server()
        #expect(try node.optionalString(at: "absent") == nil)
        #expect(try node.optionalString(at: "nothing") == nil)
        #expect(try node.optionalInt(at: "port") == 8443)
        #expect(try node.optionalDuration(at: "timeout") == 10)
        #expect(try node.optionalByteSize(at: "absent") == nil)
        #expect(try node.optionalBool(at: "enabled") == true)
        #expect(try node.optionalStringList(at: "hosts")?.count == 2)
        #expect(try error { _ = try $0.string(at: "nothing") }
            == "gateway.yaml:2:3: server.nothing: missing required key 'nothing'")
    }

    @Test("reports every unknown key at its own line")
    func unknownKeys() throws {
        let node = try server()
        var allowed = node.keys
        allowed.removeAll { $0 == "typo_key" || $0 == "raw" }
        let errors = node.unknownKeys(allowed: allowed)
        #expect(errors.map(\.mark.line) == [16, 21])
        #expect(errors.first?.path == "server.raw")
        #expect(errors.first?.description.hasPrefix("gateway.yaml:16:3: server.raw: unknown key 'raw'") == true)
        #expect(throws: YAMLDecodingError.self) { try node.expectKeys(allowed) }
        try node.expectKeys(node.keys)
    }

    @Test("refuses the wrong kind of node")
    func kinds() throws {
        let root = try YAMLParser.parse("a: [1]\nb: {c: 1}\n", file: "k.yaml")
        #expect(throws: YAMLDecodingError.self) { try root.string(at: "a") }
        #expect(throws: YAMLDecodingError.self) { try root.required("a").mapping() }
        #expect(throws: YAMLDecodingError.self) { try root.required("b").sequence() }
        #expect(try root.required("b").mapping().count == 1)
        #expect(throws: YAMLDecodingError.self) { try root.required("a").string(at: "x") }
    }
}
