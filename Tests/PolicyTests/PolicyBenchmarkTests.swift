import FHIR
import SMART
import Foundation
import Testing
@testable import Policy

/// Decisions per second for the sample policy set (issue #6: at least 1,000,000 a second on one core).
/// Prints the rate; it asserts only that the decisions are right, never a time (machines differ).
/// Meaningful in release builds: `swift test -c release --filter PolicyBenchmark`.
@Suite("Policy benchmark")
struct PolicyBenchmarkTests {
    @Test("evaluates the sample set quickly and prints decisions per second")
    func decisionsPerSecond() throws {
        let set = try PolicySet.load(directory: SamplePolicyTests.policyDirectory)
        let pharmacy = Fixtures.principal(Fixtures.client(
            id: "pharmacy-one", kind: .organization, npis: ["1111111112"], roles: ["pharmacist"],
            networks: ["10.20.0.0/16"]))
        let mix: [(PolicyInput, Bool)] = [
            (Fixtures.input(Fixtures.search("MedicationDispense", patients: ["pt-alice"])), true),
            (Fixtures.input(Fixtures.history()), true),
            (Fixtures.input(Fixtures.history(npi: "1999999992")), false),
            (Fixtures.input(Fixtures.search("MedicationDispense", patients: [])), false),
            (Fixtures.input(Fixtures.search("MedicationRequest", patients: ["pt-bob"]), principal: pharmacy,
                            address: "10.20.1.2"), true),
            (Fixtures.input(Interaction(kind: .delete, method: "DELETE", resourceType: "MedicationDispense", id: "x")),
             false),
        ]
        for (input, allowed) in mix { #expect(set.evaluate(input).allowed == allowed) }

        #if DEBUG
        let rounds = 2_000  // debug builds are 50-100x slower; the number printed is only a smoke check
        #else
        let rounds = 200_000
        #endif
        var allowedCount = 0
        let start = monotonicSeconds()
        for _ in 0..<rounds {
            for (input, _) in mix where set.evaluate(input).allowed { allowedCount += 1 }
        }
        let elapsed = monotonicSeconds() - start
        let decisions = Double(rounds * mix.count)
        print("policy benchmark: \(Int(decisions / elapsed)) decisions/s (\(rounds * mix.count) in \(elapsed) s)")
        #expect(allowedCount == rounds * 3)
    }

    private func monotonicSeconds() -> Double {
        Double(DispatchTime.now().uptimeNanoseconds) / 1e9
    }
}
