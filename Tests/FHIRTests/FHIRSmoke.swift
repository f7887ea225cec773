import Testing
@testable import FHIR

@Suite struct FHIRPlaceholder { @Test func builds() {} }
