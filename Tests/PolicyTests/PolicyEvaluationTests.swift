import FHIR
import Foundation
import GatewayYAML
import SMART
import Testing
@testable import Policy

@Suite("Policy evaluation")
struct PolicyEvaluationTests {
    private let reads = """
        rules:
          - name: single-patient-search
            effect: permit
            when:
              request.kind: search-type
              request.type: [MedicationDispense, MedicationRequest]
              request.patients: exactly-one
            obligations:
              - check_response_compartment
              - narrow_search_to_patient
          - name: no-suspended
            effect: forbid
            when:
              client.status: suspended
            reason: Suspended requesters may not query.
            obligations:
              - audit_detail: full
        """

    @Test("permits a matching request and carries the permit's obligations")
    func permit() throws {
        let set = try Fixtures.policies(["reads": reads])
        let decision = set.evaluate(Fixtures.input(Fixtures.search("MedicationDispense", patients: ["pt-alice"])))
        #expect(decision.allowed)
        #expect(decision.decidingRule == "reads:single-patient-search")
        #expect(decision.matchedRules == ["reads:single-patient-search"])
        #expect(decision.obligations == [.checkResponseCompartment, .narrowSearchToPatient])
        #expect(decision.shadow.isEmpty && decision.shadowDecision == nil)
    }

    @Test("denies by default when nothing permits")
    func defaultDeny() throws {
        let set = try Fixtures.policies(["reads": reads])
        let population = set.evaluate(Fixtures.input(Fixtures.search("MedicationDispense", patients: [])))
        #expect(!population.allowed)
        #expect(population.decidingRule == nil)
        #expect(population.reason == PolicyDecision.defaultDenialReason)
        let two = set.evaluate(Fixtures.input(Fixtures.search("MedicationDispense", patients: ["a", "b"])))
        #expect(!two.allowed)
        let otherType = set.evaluate(Fixtures.input(Fixtures.search("Practitioner", patients: ["a"])))
        #expect(!otherType.allowed)
    }

    @Test("a matching forbid beats a matching permit and gives its reason")
    func forbidWins() throws {
        let set = try Fixtures.policies(["reads": reads])
        let suspended = Fixtures.principal(Fixtures.client(status: .suspended))
        let decision = set.evaluate(
            Fixtures.input(Fixtures.search("MedicationDispense", patients: ["pt-alice"]), principal: suspended))
        #expect(!decision.allowed)
        #expect(decision.decidingRule == "reads:no-suspended")
        #expect(decision.reason == "Suspended requesters may not query.")
        #expect(decision.matchedRules == ["reads:single-patient-search", "reads:no-suspended"])
        #expect(decision.obligations == [.auditDetail(.full)])
        #expect(PolicyDenial(decision).status == 403)
        #expect(PolicyDenial(decision).publicMessage == "Suspended requesters may not query.")
    }

    @Test("compares an attribute with another: the practitioner's NPI must be registered to the client")
    func attributeComparison() throws {
        let set = try Fixtures.policies(["history": """
            rules:
              - name: own-practitioner
                effect: permit
                when:
                  request.operation: $pdmp-history
                  pdmp.practitioner.npi: {in_attribute: client.npis}
                  client.roles: {in: [prescriber, pharmacist]}
            """])
        #expect(set.evaluate(Fixtures.input(Fixtures.history(npi: "1234567893"))).allowed)
        #expect(!set.evaluate(Fixtures.input(Fixtures.history(npi: "1999999992"))).allowed)
        #expect(!set.evaluate(Fixtures.input(Fixtures.history(npi: nil))).allowed)
        let pharmacist = Fixtures.principal(Fixtures.client(roles: ["pharmacist"]))
        #expect(set.evaluate(Fixtures.input(Fixtures.history(), principal: pharmacist)).allowed)
        let delegate = Fixtures.principal(Fixtures.client(roles: ["delegate"]))
        #expect(!set.evaluate(Fixtures.input(Fixtures.history(), principal: delegate)).allowed)
        let unregistered = Fixtures.principal(nil)
        #expect(!set.evaluate(Fixtures.input(Fixtures.history(), principal: unregistered)).allowed)
    }

    @Test("matches client addresses against CIDR lists and the client's registered networks, IPv4 and IPv6")
    func networks() throws {
        let set = try Fixtures.policies(["net": """
            rules:
              - name: allow-all-reads
                effect: permit
                when: {request.kind: search-type}
              - name: org-outside-networks
                effect: forbid
                when:
                  client.kind: organization
                  network.address: {not: {cidr_attribute: client.networks}}
                reason: Organization requests must come from a registered network.
              - name: blocked-range
                effect: forbid
                when:
                  network.address: {cidr: [198.51.100.0/24, "2001:db8:bad::/48"]}
            """])
        let org = Fixtures.principal(
            Fixtures.client(kind: .organization, networks: ["10.20.0.0/16", "2001:db8:1::/64"]))
        let search = Fixtures.search("MedicationDispense", patients: ["p"])
        let cases: [(String, Bool)] = [
            ("10.20.3.4", true), ("10.21.0.1", false), ("::ffff:10.20.0.9", true), ("2001:db8:1::42", true),
            ("2001:db8:2::1", false), ("not-an-address", false), ("10.20.3.4:443", false), ("010.20.3.4", false),
        ]
        for (address, allowed) in cases {
            #expect(set.evaluate(Fixtures.input(search, principal: org, address: address)).allowed == allowed,
                    "\(address)")
        }
        let provider = Fixtures.principal()
        #expect(set.evaluate(Fixtures.input(search, principal: provider, address: "192.0.2.1")).allowed)
        #expect(!set.evaluate(Fixtures.input(search, principal: provider, address: "198.51.100.7")).allowed)
        #expect(!set.evaluate(Fixtures.input(search, principal: provider, address: "2001:db8:bad:1::5")).allowed)
    }

    @Test("evaluates shadow rules without enforcing them")
    func shadow() throws {
        let set = try Fixtures.policies([
            "reads": reads,
            "trial": """
                mode: shadow
                rules:
                  - name: no-request-searches
                    effect: forbid
                    when: {request.type: MedicationRequest}
                    reason: Trial restriction.
                """,
        ])
        #expect(set.shadowRuleIDs == ["trial:no-request-searches"])
        let decision = set.evaluate(Fixtures.input(Fixtures.search("MedicationRequest", patients: ["p"])))
        #expect(decision.allowed)
        #expect(decision.shadow == [ShadowOutcome(rule: "trial:no-request-searches", effect: .forbid,
                                                  reason: "Trial restriction.")])
        #expect(decision.shadowDecision == false)
        #expect(decision.shadowDiffers)
        #expect(!decision.matchedRules.contains("trial:no-request-searches"))
        let unaffected = set.evaluate(Fixtures.input(Fixtures.search("MedicationDispense", patients: ["p"])))
        #expect(unaffected.shadowDecision == nil)
    }

    @Test("a shadow rule inside an enforced file only shadows itself")
    func ruleLevelShadow() throws {
        let set = try Fixtures.policies(["mixed": """
            rules:
              - name: searches
                effect: permit
                when: {request.kind: search-type}
              - name: trial-permit-reads
                mode: shadow
                effect: permit
                when: {request.kind: read}
            """])
        let read = Interaction(kind: .read, method: "GET", resourceType: "Patient", id: "p", patients: ["p"])
        let decision = set.evaluate(Fixtures.input(read))
        #expect(!decision.allowed)
        #expect(decision.shadowDecision == true)
    }

    @Test("merges obligations of several matching permits, keeping every rate limit")
    func mergedObligations() throws {
        let set = try Fixtures.policies(["q": """
            rules:
              - name: a
                effect: permit
                when: {request.kind: search-type}
                obligations:
                  - audit_detail: minimal
                  - rate_limit: {name: daily, bucket: per-client, limit: 500, per: day}
              - name: b
                effect: permit
                when: {request.patients: exactly-one}
                obligations:
                  - check_response_compartment
                  - audit_detail: full
                  - rate_limit: {bucket: per-address, limit: 10, per: second}
            """])
        let decision = set.evaluate(Fixtures.input(Fixtures.search("MedicationDispense", patients: ["p"])))
        let daily = RateLimit(name: "daily", bucket: .perClient, limit: 500, period: .day)
        let burst = RateLimit(name: "q:b", bucket: .perAddress, limit: 10, period: .second)
        #expect(decision.obligations == [.rateLimit(daily), .checkResponseCompartment, .auditDetail(.full),
                                         .rateLimit(burst)])
        let input = Fixtures.input(Fixtures.search("MedicationDispense", patients: ["p"]))
        #expect(daily.key(for: input) == "daily|per-client|dr-carol")
        #expect(burst.key(for: input) == "q:b|per-address|192.0.2.10")
        let perOperation = RateLimit(name: "h", bucket: .perClientOperation, limit: 1, period: .hour)
        #expect(perOperation.key(for: Fixtures.input(Fixtures.history()))
            == "h|per-client-operation|dr-carol|$pdmp-history")
    }

    @Test("reads time in the configured zone")
    func time() throws {
        let text = """
            rules:
              - name: office-hours
                effect: permit
                when:
                  time.hour: {min: 8, max: 17}
                  time.weekday: [mon, tue, wed, thu, fri]
            """
        let utc = try Fixtures.policies(["t": text])
        let newYork = try PolicySet.compile(
            sources: [PolicySource(fileName: "t.yaml", text: text)],
            options: PolicyOptions(timeZone: TimeZone(identifier: "America/New_York")!))
        let search = Fixtures.search("MedicationDispense", patients: ["p"])
        // 2026-12-02 12:00 UTC is 07:00 in New York (EST).
        #expect(utc.evaluate(Fixtures.input(search)).allowed)
        #expect(!newYork.evaluate(Fixtures.input(search)).allowed)
        #expect(newYork.evaluate(Fixtures.input(search, now: 1_796_212_800 + 3600)).allowed)
        // Saturday 2026-12-05 12:00 UTC.
        #expect(!utc.evaluate(Fixtures.input(search, now: 1_796_212_800 + 3 * 86400)).allowed)
    }

    @Test("nests any-of, all-of and not")
    func nesting() throws {
        let set = try Fixtures.policies(["n": """
            rules:
              - name: vets
                effect: permit
                when:
                  pdmp.animal_owner: true
                  client.roles: veterinarian
                  any-of:
                    - pdmp.practitioner.npi: {in_attribute: client.npis}
                    - pdmp.practitioner.dea: {in_attribute: client.deas}
                  not:
                    pdmp.delegate: true
            """])
        let vet = Fixtures.principal(Fixtures.client(npis: [], deas: ["AB1234563"], roles: ["veterinarian"]))
        var dea = Fixtures.history(npi: nil, animalOwner: true)
        dea.pdmpHistory?.authorizedPractitioner?.dea = "AB1234563"
        #expect(set.evaluate(Fixtures.input(dea, principal: vet)).allowed)
        dea.pdmpHistory?.authorizedPractitioner?.dea = "XY0000000"
        #expect(!set.evaluate(Fixtures.input(dea, principal: vet)).allowed)
        let human = Fixtures.history(npi: nil, animalOwner: false)
        #expect(!set.evaluate(Fixtures.input(human, principal: vet)).allowed)
        var delegated = Fixtures.history(npi: nil, animalOwner: true)
        delegated.pdmpHistory?.authorizedPractitioner?.dea = "AB1234563"
        delegated.pdmpHistory?.delegate = .init(npi: "1000000004")
        #expect(!set.evaluate(Fixtures.input(delegated, principal: vet)).allowed)
    }

    @Test("set matchers: contains, intersects, count and exists")
    func setMatchers() throws {
        let set = try Fixtures.policies(["s": """
            rules:
              - name: r
                effect: permit
                when:
                  request.parameters: {contains: patient, not: {in: [_include, _revinclude]}}
                  token.scopes: {count: {min: 1, max: 3}}
                  request.patients: {exists: true}
            """])
        var search = Fixtures.search("MedicationDispense", patients: ["p"])
        #expect(set.evaluate(Fixtures.input(search)).allowed)
        search.parameters.append(SearchParameter(name: "_include", values: ["MedicationDispense:prescription"]))
        #expect(!set.evaluate(Fixtures.input(search)).allowed)
    }

    @Test("the rule prefilter numbers interaction kinds as InteractionKind.allCases does")
    func prefilterBits() {
        for (index, kind) in InteractionKind.allCases.enumerated() {
            #expect(RulePrefilter.bit(kind) == 1 << UInt32(index), "\(kind)")
        }
        let filter = RulePrefilter(.all([.test(AttributeTest(
            attribute: .requestKind, matcher: .inStrings(["read", "operation"]), source: "",
            mark: .init(file: "", line: 0, column: 0)))]))
        #expect(filter.admits(RulePrefilter.bit(.read), false))
        #expect(!filter.admits(RulePrefilter.bit(.searchType), false))
    }

    @Test("precomputed zone offsets agree with the time-zone database across DST changes and outside the window")
    func zoneOffsets() throws {
        let zone = try #require(TimeZone(identifier: "America/New_York"))
        let reference = Date(timeIntervalSince1970: 1_796_212_800)
        let offsets = ZoneOffsets(zone, around: reference)
        var time = reference.timeIntervalSince1970 - 400 * 86400
        while time < reference.timeIntervalSince1970 + 900 * 86400 {
            #expect(offsets.offset(at: time) == zone.secondsFromGMT(for: Date(timeIntervalSince1970: time)))
            time += 86400 * 3 + 3607
        }
    }
}
