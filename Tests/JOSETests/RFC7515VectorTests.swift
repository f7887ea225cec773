// RFC 7515 Appendix A vectors (SPEC-DIGEST §6.4): A.2 RS256 and A.3 ES256 verify with their published
// public keys; the A.5 unsecured form is refused. Public test data from the RFC.

import Testing

@testable import JOSE

@Suite("RFC 7515 Appendix A") struct RFC7515VectorTests {
    static let payload =
        "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    static let a2JWK =
        #"{"kty":"RSA","kid":"a2","n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddx"#
        + "HmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-"
        + "bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7"
        + #"aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ","e":"AQAB"}"#
    static let a2Token =
        "eyJhbGciOiJSUzI1NiJ9." + payload + ".cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XO"
        + "iZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6x"
        + "BArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w"
        + "9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw"
    static let a3JWK =
        #"{"kty":"EC","kid":"a3","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","#
        + #""y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#
    static let a3Token =
        "eyJhbGciOiJFUzI1NiJ9." + payload
        + ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"

    static func keys(_ json: String, _ allowed: Set<JWSAlgorithm>) throws -> VerificationKeySet {
        VerificationKeySet(VerificationKey.bindings(of: try JWK(json: Array(json.utf8)), allowed: allowed))
    }

    @Test("A.2: the RS256 example verifies and its CRLF payload decodes exactly")
    func a2() throws {
        let jws = try CompactJWS.parse(Self.a2Token)
        #expect(try Self.keys(Self.a2JWK, [.rs256]).verify(jws, requireKeyID: false).algorithm == .rs256)
        #expect(jws.payload.contains(0x0D) && jws.payload.contains(0x0A))
        #expect(try jws.claims().numericDate("exp") == 1_300_819_380)
    }

    @Test("A.3: the ES256 example verifies (raw r||s, 64 bytes)")
    func a3() throws {
        let jws = try CompactJWS.parse(Self.a3Token)
        #expect(jws.signature.count == 64)
        #expect(try Self.keys(Self.a3JWK, [.es256]).verify(jws, requireKeyID: false).algorithm == .es256)
    }

    @Test("A.2 with the header changed to PS256 or HS256 does not verify")
    func a2AlgSwap() throws {
        let keys = try Self.keys(Self.a2JWK, [.rs256])
        for header in ["eyJhbGciOiJQUzI1NiJ9", "eyJhbGciOiJIUzI1NiJ9"] {
            let parts = Self.a2Token.split(separator: ".")
            let jws = try CompactJWS.parse(header + "." + parts[1] + "." + parts[2])
            #expect(throws: JOSEError.self) { try keys.verify(jws, requireKeyID: false) }
        }
    }

    @Test("A.5: the unsecured JWS (alg none, empty signature) is refused")
    func a5() throws {
        let token = "eyJhbGciOiJub25lIn0." + Self.payload + "."
        #expect(throws: JOSEError.malformed("empty part")) { try CompactJWS.parse(token) }
    }
}
