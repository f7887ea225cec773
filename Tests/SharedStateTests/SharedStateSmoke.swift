import Testing
@testable import SharedState

@Suite struct SharedStatePlaceholder { @Test func builds() {} }
