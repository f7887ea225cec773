import Testing
@testable import JOSE

@Suite struct JOSEPlaceholder { @Test func builds() {} }
