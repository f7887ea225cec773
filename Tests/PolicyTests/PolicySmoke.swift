import Testing
@testable import Policy

@Suite struct PolicyPlaceholder { @Test func builds() {} }
