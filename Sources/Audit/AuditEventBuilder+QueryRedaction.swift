// What of a request's query string the BALP `query` entity may keep. The entity is the request line as the
// client sent it (BALP "query" entity, ITI-81 / SPEC-DIGEST §7), and audit files are kept for years, so a
// parameter is written as sent only when it can carry neither a credential nor an identifier:
//  - credentials (RFC 6750 §2.3 `access_token`, RFC 7523 `client_assertion`, and the other OAuth secrets)
//    are replaced by `[REDACTED]`, whatever the request was refused for;
//  - every identifier-valued search parameter (`identifier`, chained `patient.identifier`,
//    `subject:Patient.identifier`, `_has:…:identifier`, modifiers included) is written token by token as
//    the audit writes identifiers elsewhere: SSNs never (not even hashed), configured clear systems as
//    sent, anything else as the keyed hash of `system|value`. A bare value (`identifier=966780235`) has
//    no system to tell what it is, so it is hashed too;
//  - any other value that names an SSN system or looks like an SSN (nine digits, with or without the
//    usual dashes) is replaced by `[REDACTED]`.

import Foundation
import GatewayCore

extension AuditEventBuilder {
    /// Parameter names whose values are credentials (lower-cased, modifiers removed).
    static let credentialParameters: Set<String> = [
        "access_token", "client_assertion", "client_secret", "assertion", "token", "refresh_token",
        "id_token", "code", "password",
    ]

    /// The query string with credentials, identifiers and SSN-like values made safe to keep.
    func redactedQuery(_ query: String) -> String {
        query.split(separator: "&", omittingEmptySubsequences: false).map { part -> String in
            let pieces = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let rawName = String(pieces[0])
            guard pieces.count == 2 else { return Self.looksSensitive(decoded(rawName)) ? "[REDACTED]" : rawName }
            let rawValue = String(pieces[1])
            let name = decoded(rawName).lowercased()
            if Self.looksSensitive(name) { return "[REDACTED]=[REDACTED]" }
            let base = String(name.split(separator: ":", maxSplits: 1).first ?? "")
            if Self.credentialParameters.contains(base) { return rawName + "=[REDACTED]" }
            if Self.namesIdentifier(name) {
                let tokens = rawValue.split(separator: ",", omittingEmptySubsequences: false)
                return rawName + "=" + tokens.map { writtenIdentifierToken(String($0)) }.joined(separator: ",")
            }
            return Self.looksSensitive(decoded(rawValue)) ? rawName + "=[REDACTED]" : rawName + "=" + rawValue
        }.joined(separator: "&")
    }

    /// One `system|value` token of an identifier parameter, as the audit may keep it.
    func writtenIdentifierToken(_ raw: String) -> String {
        let token = decoded(raw)
        guard let (system, value) = splitIdentifier(token) else { return raw }
        if forbiddenIdentifierSystems.contains(system) || Self.looksSensitive(system) { return "[REDACTED]" }
        if configuration.clearIdentifierSystems.contains(system) && !Self.looksSensitive(value) { return raw }
        let prefix = system.isEmpty ? "" : percentEncodedSystem(raw) + "|"
        return prefix + hashedIdentifier(system: system, value: value)
    }

    /// True for a parameter that searches by identifier, directly or through a chain or `_has`.
    static func namesIdentifier(_ lowercasedName: String) -> Bool {
        lowercasedName.split(whereSeparator: { $0 == "." || $0 == ":" }).contains { $0 == "identifier" }
    }

    /// True when the text names an SSN system or holds nine digits standing alone (`123456789`,
    /// `123-45-6789`).
    static func looksSensitive(_ text: String) -> Bool {
        let lowered = text.lowercased()
        if forbiddenIdentifierSystems.contains(where: { lowered.contains($0) }) { return true }
        var digits = 0
        var run: [UInt8] = []
        for byte in text.utf8 {
            if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                digits += 1
                run.append(byte)
            } else if byte == UInt8(ascii: "-") && (digits == 3 || digits == 5) && run.last != UInt8(ascii: "-") {
                run.append(byte)
            } else {
                if isSSNShaped(run, digits: digits) { return true }
                digits = 0
                run.removeAll(keepingCapacity: true)
            }
        }
        return isSSNShaped(run, digits: digits)
    }

    private static func isSSNShaped(_ run: [UInt8], digits: Int) -> Bool {
        guard digits == 9 else { return false }
        let dashes = run.indices.filter { run[$0] == UInt8(ascii: "-") }
        return dashes.isEmpty || dashes == [3, 6]
    }

    private func decoded(_ raw: String) -> String {
        let spaced = raw.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }

    /// The system part of a raw (still percent-encoded) `system|value` token, as the client wrote it.
    private func percentEncodedSystem(_ raw: String) -> String {
        if let bar = raw.range(of: "|") { return String(raw[..<bar.lowerBound]) }
        if let bar = raw.range(of: "%7C", options: .caseInsensitive) { return String(raw[..<bar.lowerBound]) }
        return ""
    }
}
