import Testing
@testable import Audit

@Suite struct AuditPlaceholder { @Test func builds() {} }
