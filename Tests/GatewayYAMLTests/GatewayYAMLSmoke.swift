import Testing
@testable import GatewayYAML

@Suite struct GatewayYAMLPlaceholder { @Test func builds() {} }
