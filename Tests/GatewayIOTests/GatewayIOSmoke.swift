import Testing
@testable import GatewayIO

@Suite struct GatewayIOPlaceholder { @Test func builds() {} }
