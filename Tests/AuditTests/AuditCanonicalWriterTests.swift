import FHIR
import GatewayCore
import Testing

@testable import Audit

/// The builder writes each event once through `AuditJSONOutput`; the chain's bytes come from
/// `CanonicalBytesOutput` without a tree, so they must be exactly what `CanonicalJSON.serialize` makes of
/// the same event built as a tree.
@Suite("Audit canonical writer")
struct AuditCanonicalWriterTests {
    @Test("direct canonical bytes equal the canonical serialization of the tree, for every event in the corpus")
    func corpusBytesMatch() throws {
        var checked = 0
        for builder in AuditEventCorpus.builders {
            for input in AuditEventCorpus.inputs {
                let direct = builder.canonicalEvent(input)
                let tree = builder.build(input)
                let viaTree = CanonicalJSON.serialize(tree)
                #expect(direct == viaTree, "input \(checked): \(String(decoding: direct, as: UTF8.self))")
                // The bytes are valid JSON that parses back to the same event.
                #expect(try JSONValue.parse(direct) == tree)
                checked += 1
            }
        }
        #expect(checked == AuditEventCorpus.builders.count * AuditEventCorpus.inputs.count)
    }

    @Test("the corpus reaches every subject and outcome kind, escapes, non-ASCII and optional members")
    func corpusCoverage() {
        let inputs = AuditEventCorpus.inputs
        #expect(inputs.contains { if case .tokenRequest = $0.subject { true } else { false } })
        #expect(inputs.contains { if case .fhir = $0.subject { true } else { false } })
        #expect(inputs.contains { if case .introspection = $0.subject { true } else { false } })
        for outcome in [AuditInput.Outcome.success, .denied(status: 403), .failure(status: 404), .failure(status: 502)]
        {
            #expect(inputs.contains { $0.outcome == outcome })
        }
        let text = AuditEventCorpus.builders.flatMap { builder in
            inputs.map { String(decoding: builder.canonicalEvent($0), as: UTF8.self) }
        }
        for needle in [#"\""#, #"\\"#, #"\n"#, #"\r"#, #"\t"#, #"\u0001"#, "\u{e9}", "\u{1F600}"] {
            #expect(text.contains { $0.contains(needle) }, "no event contains \(needle)")
        }
        for member in [
            "\"meta\"", "\"purposeOfEvent\"", "\"outcomeDesc\"", "\"site\"", "\"name\"", "\"policy\"", "\"role\":[",
            "\"detail\"", "\"who\":{}",
        ] {
            #expect(text.contains { $0.contains(member) }, "no event has \(member)")
        }
    }

    /// A document with nested and empty containers, written to any output.
    static func sample<O: AuditJSONOutput>(_ out: inout O) {
        out.object { o in
            o.member("a") {
                $0.array { a in
                    a.array { _ in }
                    a.object { _ in }
                    a.bool(false)
                }
            }
            o.member("b", "x")
            o.member("c", true)
        }
    }

    @Test("both outputs nest containers, empty ones included; the tree keeps members in arrival order")
    func outputs() {
        var tree = JSONTreeOutput()
        Self.sample(&tree)
        let expected: JSONValue = .object(
            JSONObject([
                ("a", .array([.array([]), .object(JSONObject()), .bool(false)])), ("b", .string("x")),
                ("c", .bool(true)),
            ]))
        #expect(tree.value == expected)
        var bytes = CanonicalBytesOutput()
        Self.sample(&bytes)
        #expect(String(decoding: bytes.bytes, as: UTF8.self) == #"{"a":[[],{},false],"b":"x","c":true}"#)
    }
}
