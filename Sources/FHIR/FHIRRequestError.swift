// Why a FHIR request was refused before anything reached the upstream (ARCHITECTURE §1 step 2). Each error
// carries its own HTTP face so the edge can answer with an OperationOutcome (GatewayCore/Errors.swift).
public import GatewayCore

/// A request the classifier or the compartment check refuses.
///
/// The public message names the rule, never the data: it contains no patient id and no resource content.
public struct FHIRRequestError: HTTPResponseError, Hashable, Sendable, CustomStringConvertible {
    public let status: Int
    public let issueType: IssueType
    public let publicMessage: String
    /// For a 405: the methods the URL supports (RFC 9110 §15.5.6 `Allow`).
    public let allow: String?

    public init(status: Int, issueType: IssueType, _ message: String, allow: String? = nil) {
        self.status = status
        self.issueType = issueType
        self.publicMessage = message
        self.allow = allow
    }

    public var extraHeaders: [(String, String)] { allow.map { [("Allow", $0)] } ?? [] }

    public var description: String { "\(status) \(issueType.rawValue): \(publicMessage)" }

    /// 400: malformed or ambiguous input (non-canonical path, unknown parameter, bad body).
    public static func invalid(_ message: String) -> FHIRRequestError {
        FHIRRequestError(status: 400, issueType: .invalid, message)
    }

    /// 403: well-formed, but the gateway refuses it by default (e.g. `_has`, unlisted operations).
    public static func refused(_ message: String) -> FHIRRequestError {
        FHIRRequestError(status: 403, issueType: .forbidden, message)
    }

    /// 405: the method is not defined for this kind of URL; `allow` lists those that are.
    public static func methodNotAllowed(_ message: String, allow: String) -> FHIRRequestError {
        FHIRRequestError(status: 405, issueType: .notSupported, message, allow: allow)
    }

    /// 415: a body the gateway will not inspect, so it will not forward it either (FHIR-20).
    public static func unsupportedMediaType(_ message: String) -> FHIRRequestError {
        FHIRRequestError(status: 415, issueType: .notSupported, message)
    }

    /// 422: understood, but a reference cannot be resolved to a patient the gateway can check (FHIR-16).
    public static func unprocessable(_ message: String) -> FHIRRequestError {
        FHIRRequestError(status: 422, issueType: .processing, message)
    }

    /// The one answer for "you may not see or touch this": identical whether or not the target exists, so
    /// that no denial is an existence oracle (FHIR security.html "Access Denied Response Handling";
    /// attack-cases FHIR-01/02). Used by the compartment check and by the response inspector.
    public static let accessDenied = FHIRRequestError(
        status: 403, issueType: .forbidden, "Access to the requested resource is not permitted for this token")
}
