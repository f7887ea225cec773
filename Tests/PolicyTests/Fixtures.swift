import FHIR
import GatewayYAML
import SMART
@testable import Policy

/// Builders for policy inputs used across the policy tests.
enum Fixtures {
    static func client(
        id: String = "dr-carol", kind: RegisteredClient.Kind = .provider, npis: [String] = ["1234567893"],
        deas: [String] = [], roles: [String] = ["prescriber"], networks: [String] = [],
        status: RegisteredClient.Status = .active
    ) -> RegisteredClient {
        RegisteredClient(
            id: id, name: "Test \(id)", kind: kind, npis: npis, deas: deas, roles: roles, networks: networks,
            status: status)
    }

    static func principal(_ client: RegisteredClient? = Fixtures.client(), patient: String? = nil) -> Principal {
        Principal(
            clientID: client?.id ?? "unregistered", issuer: "https://gw.example:8443",
            scopes: ["system/MedicationDispense.rs"], patient: patient, expiresAt: 2_000_000_000, client: client)
    }

    static func search(_ type: String, patients: Set<String>) -> Interaction {
        Interaction(
            kind: .searchType, method: "GET", resourceType: type,
            parameters: patients.map { SearchParameter(name: "patient", values: [$0]) }, patients: patients,
            returnedTypes: [type])
    }

    static func history(
        npi: String? = "1234567893", delegate: PDMPHistoryRequest.Practitioner? = nil, animalOwner: Bool = false
    ) -> Interaction {
        let request = PDMPHistoryRequest(
            patientFamily: "Testpatient", authorizedPractitioner: .init(npi: npi), delegate: delegate,
            hasAnimalOwner: animalOwner)
        return Interaction(
            kind: .operation, method: "POST", resourceType: "Patient", operation: "pdmp-history",
            operationLevel: .type, pdmpHistory: request)
    }

    static func input(
        _ interaction: Interaction, principal: Principal = Fixtures.principal(), address: String = "192.0.2.10",
        now: Double = 1_796_212_800  // 2026-12-02 12:00 UTC, a Wednesday
    ) -> PolicyInput {
        PolicyInput(principal: principal, interaction: interaction, clientAddress: address, now: now)
    }

    static func policies(_ files: [String: String]) throws -> PolicySet {
        try PolicySet.compile(sources: files.sorted { $0.key < $1.key }.map {
            PolicySource(fileName: "\($0.key).yaml", text: $0.value)
        })
    }

    /// The load errors of `files`, one description a line (empty when it loads).
    static func loadErrors(_ files: [String: String]) -> [String] {
        do {
            _ = try policies(files)
            return []
        } catch let error as PolicyLoadError {
            return error.errors.map(\.description)
        } catch {
            return ["unexpected \(error)"]
        }
    }
}
