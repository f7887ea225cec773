import Testing
@testable import GatewayCore

@Suite struct GatewayCorePlaceholder { @Test func builds() {} }
