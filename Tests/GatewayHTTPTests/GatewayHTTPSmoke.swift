import Testing
@testable import GatewayHTTP

@Suite struct GatewayHTTPPlaceholder { @Test func builds() {} }
