import COpenSSL
import COpenSSLShim
import Foundation
import PeaceHubCore

/// Who is on the other end of an authenticated TLS connection.
///
/// `TLSHandler` fires this as an inbound user event once the handshake has completed and the peer's certificate
/// has been verified against the hub CA (chain, validity, CRL, purpose) and its name checked. Handlers after the
/// TLS handler (the MQTT layer) take authorisation decisions from `principal`; the other fields are for logs and
/// audit (pinning by `spkiSHA256`, revocation by `serial`). A handler placed after `TLSHandler` receives it once,
/// before any plaintext:
///
/// ```swift
/// func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
///     if let identity = event as? TLSPeerIdentity, case .contingent(let code) = identity.principal { … }
///     context.fireUserInboundEventTriggered(event)
/// }
/// ```
///
/// No event means no identity: a connection whose certificate fails any check never becomes active.
public struct TLSPeerIdentity: Sendable, Hashable {
    /// The PeaceHub principal the certificate names.
    public enum Principal: Sendable, Hashable, CustomStringConvertible {
        /// A national contingent: the ISO 3166 alpha-3 code from `urn:peacehub:contingent:<CODE>`.
        case contingent(String)
        /// A hub operator, from `urn:peacehub:operator:<name>`.
        case `operator`(String)
        /// Another hub's server certificate (seen by the hub-to-hub client side): the verified host name.
        case server(String)

        public var description: String {
            switch self {
            case .contingent(let code): "contingent \(code)"
            case .operator(let name): "operator \(name)"
            case .server(let host): "server \(host)"
            }
        }
    }

    public var principal: Principal
    /// The certificate's subject in RFC 2253 form, e.g. `CN=KAZ contingent,O=PeaceHub`.
    public var subject: String
    /// The certificate serial number, upper-case hex without leading zeros (as in `peacehub pki list` and CRLs).
    public var serial: String
    /// The issuer's distinguished name, RFC 2253 (for logs: CRLs are matched by the issuer's key, `CertificateID`).
    public var issuer: String
    /// SHA-256 of the DER SubjectPublicKeyInfo, lower-case hex (stable across re-issues with the same key).
    public var spkiSHA256: String
    /// The negotiated protocol, e.g. `TLSv1.3`.
    public var tlsVersion: String
    /// The negotiated cipher suite, e.g. `TLS_AES_256_GCM_SHA384`.
    public var cipher: String

    public init(
        principal: Principal, subject: String, serial: String, issuer: String, spkiSHA256: String, tlsVersion: String,
        cipher: String
    ) {
        self.principal = principal
        self.subject = subject
        self.serial = serial
        self.issuer = issuer
        self.spkiSHA256 = spkiSHA256
        self.tlsVersion = tlsVersion
        self.cipher = cipher
    }
}

/// The URI prefixes that name PeaceHub principals in a certificate's subjectAltName.
public enum PeaceHubURI {
    public static let contingentPrefix = "urn:peacehub:contingent:"
    public static let operatorPrefix = "urn:peacehub:operator:"

    /// What follows `urn:peacehub:` in `uri`, matched as RFC 8141 3.1 compares URNs (the scheme and the namespace
    /// in any case), or nil when `uri` is no PeaceHub URN: `URN:PeaceHub:contingent:KAZ` names KAZ as
    /// `urn:peacehub:contingent:KAZ` does, so it can neither hide a second principal nor go unread.
    static func namespaceSpecificString(of uri: String) -> Substring? {
        let namespace = "urn:peacehub:".utf8
        func lowercased(_ byte: UInt8) -> UInt8 { (0x41...0x5A).contains(byte) ? byte | 0x20 : byte }
        guard uri.utf8.prefix(namespace.count).map(lowercased).elementsEqual(namespace) else { return nil }
        return Substring(uri.utf8.dropFirst(namespace.count))
    }

    public static func contingent(_ code: String) -> String { contingentPrefix + code }
    public static func `operator`(_ name: String) -> String { operatorPrefix + name }

    /// True for an ISO 3166 alpha-3 code: three upper-case ASCII letters.
    public static func isContingentCode(_ code: String) -> Bool {
        code.utf8.count == 3 && code.utf8.allSatisfy { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }
    }

}

/// Read-only views of a borrowed `X509 *`.
enum CertificateInfo {
    /// A subjectAltName entry.
    enum AlternativeName: Equatable {
        case uri(String)
        case dns(String)
        case email(String)
        case ip([UInt8])
        case other
    }

    /// Why a name in the certificate is unusable.
    struct NameError: Error {
        var reason: String
    }

    /// The SAN entries; throws when a text entry holds a NUL byte or is not valid UTF-8.
    static func alternativeNames(_ cert: OpaquePointer) throws(NameError) -> [AlternativeName] {
        guard let raw = X509_get_ext_d2i(cert, NID_subject_alt_name, nil, nil) else { return [] }
        let names = OpaquePointer(raw)
        defer { GENERAL_NAMES_free(names) }
        var result: [AlternativeName] = []
        for index in 0..<phub_general_names_count(names) {
            var type: Int32 = 0
            var data: UnsafePointer<UInt8>?
            var length: Int32 = 0
            guard phub_general_names_get(names, index, &type, &data, &length) == 1, let data else {
                result.append(.other)
                continue
            }
            let bytes = Array(UnsafeBufferPointer(start: data, count: Int(length)))
            if type == GEN_IPADD {
                result.append(.ip(bytes))
                continue
            }
            let text = try checkedText(bytes, what: "subjectAltName")
            switch type {
            case GEN_URI: result.append(.uri(text))
            case GEN_DNS: result.append(.dns(text))
            case GEN_EMAIL: result.append(.email(text))
            default: result.append(.other)
            }
        }
        return result
    }

    /// Every subject attribute as UTF-8 text; throws on a NUL byte or invalid UTF-8.
    static func checkSubject(_ cert: OpaquePointer) throws(NameError) {
        guard let name = X509_get_subject_name(cert) else { return }
        for index in 0..<X509_NAME_entry_count(name) {
            guard let entry = X509_NAME_get_entry(name, index), let value = X509_NAME_ENTRY_get_data(entry) else {
                continue
            }
            var output: UnsafeMutablePointer<UInt8>?
            let length = ASN1_STRING_to_UTF8(&output, value)
            guard length >= 0, let output else {
                throw NameError(reason: "certificate subject holds an attribute that is not valid text")
            }
            defer { phub_openssl_free(output) }
            _ = try checkedText(Array(UnsafeBufferPointer(start: output, count: Int(length))), what: "subject")
        }
    }

    static func checkedText(_ bytes: [UInt8], what: String) throws(NameError) -> String {
        if bytes.contains(0) { throw NameError(reason: "certificate \(what) holds an embedded NUL byte") }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw NameError(reason: "certificate \(what) is not valid UTF-8")
        }
        return text
    }

    /// The PeaceHub principal of a client certificate (exactly one `urn:peacehub:` URI SAN).
    static func clientPrincipal(_ cert: OpaquePointer) throws(NameError) -> TLSPeerIdentity.Principal {
        try checkSubject(cert)
        try checkClientUsage(cert)
        var principals: [TLSPeerIdentity.Principal] = []
        for case .uri(let uri) in try alternativeNames(cert) {
            guard let specific = PeaceHubURI.namespaceSpecificString(of: uri) else { continue }
            if specific.hasPrefix("contingent:") {
                let code = String(specific.dropFirst("contingent:".count))
                guard PeaceHubURI.isContingentCode(code) else {
                    throw NameError(reason: "certificate names contingent '\(code)', not an ISO 3166 alpha-3 code")
                }
                principals.append(.contingent(code))
            } else if specific.hasPrefix("operator:") {
                let name = String(specific.dropFirst("operator:".count))
                guard Principal.isSimpleName(name) else {
                    throw NameError(reason: "certificate names operator '\(name)', not a valid operator name")
                }
                principals.append(.operator(name))
            } else {
                throw NameError(reason: "certificate has a PeaceHub URI naming neither a contingent nor an operator")
            }
        }
        guard let principal = principals.first else {
            throw NameError(
                reason: "client certificate has no \(PeaceHubURI.contingentPrefix)<CODE> or "
                    + "\(PeaceHubURI.operatorPrefix)<name> subjectAltName")
        }
        guard principals.count == 1 else {
            throw NameError(reason: "client certificate names more than one PeaceHub principal")
        }
        return principal
    }

    /// A client certificate must say that it is one: OpenSSL's purpose check passes a certificate without an
    /// extended key usage (RFC 5280 4.2.1.12 reads none as any), one that is also a CA, and one whose key usage
    /// forbids the signature a TLS 1.3 client makes (CertificateVerify, RFC 8446 4.4.2.3).
    static func checkClientUsage(_ cert: OpaquePointer) throws(NameError) {
        let flags = X509_get_extension_flags(cert)
        guard flags & UInt32(EXFLAG_XKUSAGE) != 0, X509_get_extended_key_usage(cert) & UInt32(XKU_SSL_CLIENT) != 0
        else { throw NameError(reason: "client certificate has no extended key usage clientAuth") }
        // X509_check_ca answers 0 for CA:TRUE when a key usage without keyCertSign is present, and for keyCertSign
        // under CA:FALSE, which RFC 5280 4.2.1.3 forbids: the key usage bit is checked on its own.
        guard flags & UInt32(EXFLAG_CA) == 0, X509_check_ca(cert) == 0,
            flags & UInt32(EXFLAG_KUSAGE) == 0 || X509_get_key_usage(cert) & UInt32(KU_KEY_CERT_SIGN) == 0
        else {
            throw NameError(reason: "client certificate is a CA certificate (basicConstraints CA:TRUE or keyCertSign)")
        }
        // Without a key usage extension, X509_get_key_usage has every bit set (RFC 5280 4.2.1.3: any use).
        guard X509_get_key_usage(cert) & UInt32(KU_DIGITAL_SIGNATURE) != 0 else {
            throw NameError(
                reason: "client certificate's key usage lacks digitalSignature: its key may not sign the handshake")
        }
    }

    /// The certificates of the chain `storeContext` built, leaf first, as CRLs name them (each with the key of the
    /// next, its issuer): all but the root, which no CRL covers (a lone self-signed leaf is kept).
    static func chainBelowRoot(_ storeContext: OpaquePointer) -> [CertificateID] {
        let count = phub_store_ctx_chain_count(storeContext)
        return (0..<max(1, count - 1)).compactMap { index in
            guard let cert = phub_store_ctx_chain_get(storeContext, index),
                let issuer = phub_store_ctx_chain_get(storeContext, min(index + 1, count - 1))
            else { return nil }
            return CertificateID(issuerKey: keyDigest(issuer), serial: serial(cert))
        }
    }

    static func subject(_ cert: OpaquePointer) -> String {
        OpenSSL.take(phub_x509_name_rfc2253(X509_get_subject_name(cert))) ?? ""
    }

    static func serial(_ cert: OpaquePointer) -> String {
        OpenSSL.take(phub_asn1_integer_hex(X509_get_serialNumber(cert))) ?? ""
    }

    /// SHA-256 of the DER SubjectPublicKeyInfo: the standard key pin, the one
    /// `openssl x509 -pubkey | openssl pkey -pubin -outform DER | sha256sum` gives.
    static func spkiSHA256(_ cert: OpaquePointer) -> String {
        var der: UnsafeMutablePointer<UInt8>?
        let length = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der)
        guard length > 0, let der else { return "" }
        defer { CRYPTO_free(der, #fileID, #line) }
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var size: UInt32 = 0
        guard EVP_Digest(der, Int(length), &digest, &size, EVP_sha256(), nil) == 1 else { return "" }
        return hex(digest[0..<Int(size)])
    }

    /// SHA-256 of the public key's bits alone (the subjectPublicKey BIT STRING, which RFC 5280's key identifiers
    /// hash): the hub's name for a CA's key in CRL bookkeeping (`crl-numbers.json`, revoked certificates), kept
    /// as it was when the displayed hash became the standard SPKI pin, so that stored names still match.
    /// A CA as CRL bookkeeping names it (`TLSContext.crlNumbers`, `RevocationRecord`): its subject and its key.
    static func crlAuthorityName(_ ca: OpaquePointer) -> String {
        "\(subject(ca)) (key \(keyDigest(ca).prefix(16)))"
    }

    static func keyDigest(_ cert: OpaquePointer) -> String {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        guard X509_pubkey_digest(cert, EVP_sha256(), &digest, &length) == 1 else { return "" }
        return hex(digest[0..<Int(length)])
    }

    private static func hex(_ bytes: ArraySlice<UInt8>) -> String {
        bytes.map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    static func notAfter(_ cert: OpaquePointer) -> Date? { OpenSSL.date(X509_get0_notAfter(cert)) }
    static func notBefore(_ cert: OpaquePointer) -> Date? { OpenSSL.date(X509_get0_notBefore(cert)) }
}
