import Testing
@testable import GatewayCrypto

@Suite struct GatewayCryptoPlaceholder { @Test func builds() {} }
