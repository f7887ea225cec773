import Testing
@testable import SMART

@Suite struct SMARTPlaceholder { @Test func builds() {} }
