import Testing
@testable import Gateway

@Suite struct GatewayPlaceholder { @Test func builds() {} }
