import Foundation

/// `index.json` in the PKI directory: every certificate the hub CA issued, and the CRL settings.
public struct PKIIndex: Codable, Sendable, Equatable {
    /// One issued certificate.
    public struct Entry: Codable, Sendable, Equatable {
        public enum Kind: String, Codable, Sendable {
            case server
            case contingent
            case `operator`
            /// Made through `PKI.issue(_:)` directly (tests and tools).
            case custom
        }

        /// Upper-case hex, as OpenSSL prints it and CRLs list it.
        public var serial: String
        public var kind: Kind
        /// The file stem: host name, `<CODE>[-<device>]` or operator name.
        public var name: String
        public var contingent: String?
        public var device: String?
        public var hosts: [String]?
        public var subject: String
        public var notBefore: Date
        public var notAfter: Date
        /// Paths relative to the PKI directory. No key path for a certificate issued for a signing request:
        /// its holder keeps the key.
        public var certificatePath: String
        public var keyPath: String?
        public var revokedAt: Date?
        public var revocationReason: PKI.RevocationReason?

        public var isRevoked: Bool { revokedAt != nil }
    }

    public var version = 1
    public var caSerial: String
    public var caKeyType: String
    /// Incremented for every CRL written (the CRL number extension).
    public var crlNumber: Int = 0
    /// Days between a CRL's lastUpdate and nextUpdate when `revoke` rewrites it.
    public var crlDays: Int = 30
    public var crlNextUpdate: Date?
    public var certificates: [Entry] = []

    public init(caSerial: String, caKeyType: String) {
        self.caSerial = caSerial
        self.caKeyType = caKeyType
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()
}
