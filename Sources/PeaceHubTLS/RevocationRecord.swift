import Foundation

/// A CRL's entry for one certificate: when and why it was revoked (RFC 5280 5.3.1).
public struct CRLEntry: Sendable, Equatable {
    public var revokedAt: Date
    /// The CRLReason code; nil when the entry has none (unspecified).
    public var reasonCode: Int?

    public init(revokedAt: Date, reasonCode: Int?) {
        self.revokedAt = revokedAt
        self.reasonCode = reasonCode
    }
}

/// What the hub has loaded from each CA's numbered CRLs, kept across restarts (`crl-numbers.json` in the data
/// directory): the highest CRL number and every serial such a CRL revoked, with its date and reason, by the CA's
/// name in CRL bookkeeping (`CertificateInfo.crlAuthorityName(_:)`). A CRL below that number, or one that leaves out
/// a recorded serial, would take revocations back and is refused; `peacehub pki crl` numbers and fills the next CRL
/// from it, so that a restored backup of the PKI folder cannot write one that does (RFC 5280 5.2.3: CRL numbers
/// only grow), nor one that changes a revocation's date or reason.
public struct RevocationRecord: Sendable, Equatable {
    public struct Authority: Sendable, Equatable {
        public var number: Int
        /// Serials as CRLs name them (`CertificateID.serial`).
        public var revoked: Set<String>
        /// The first date and reason a CRL gave each serial of `revoked` (a record of an older hub has none).
        public var entries: [String: CRLEntry] = [:]
    }

    public var authorities: [String: Authority] = [:]

    public init() {}

    /// Adds what a context's CRLs number and revoke.
    mutating func add(_ context: TLSContext) {
        for (ca, number) in context.crlNumbers {
            var authority = authorities[ca] ?? Authority(number: number, revoked: [])
            authority.number = max(authority.number, number)
            let listed = context.crlRevocations[ca] ?? [:]
            authority.revoked.formUnion(listed.keys)
            authority.entries.merge(listed) { first, _ in first }
            authorities[ca] = authority
        }
    }

    /// Why `context` would take a revocation back, if it would: a CRL older than one recorded, or one that no longer
    /// lists a certificate a recorded CRL of its CA revoked; or why it would refuse a CA's every client: the CA is
    /// still trusted, and its CRL, recorded before, is gone from the file (a rotation's combined CRL file rewritten
    /// by `pki crl` of one CA).
    func refusal(of context: TLSContext) -> String? {
        let trusted = context.trustedAuthorities.intersection(authorities.keys)
        for ca in trusted.sorted() where context.crlNumbers[ca] == nil {
            return "the CRL file has no CRL of \(ca) any more, a CA of the CA file: OpenSSL would refuse every "
                + "client it issued (put its CRL back beside the others)"
        }
        for (ca, number) in context.crlNumbers.sorted(by: { $0.key < $1.key }) {
            guard let recorded = authorities[ca] else { continue }
            if number < recorded.number {
                return "the CRL of \(ca) is number \(number), older than the loaded number \(recorded.number): it "
                    + "would take revocations back (write a new one with peacehub pki crl)"
            }
            let missing = recorded.revoked.subtracting((context.crlRevocations[ca] ?? [:]).keys).sorted()
            if !missing.isEmpty {
                return "the CRL of \(ca) no longer lists serial \(missing.joined(separator: ", ")), which an earlier "
                    + "CRL revoked: a revocation is final (peacehub pki crl writes a CRL that lists it again)"
            }
        }
        return nil
    }

    /// The record in `path`; empty when the file does not exist. Reads the earlier form too, numbers alone
    /// (`{"<ca>": 3}`).
    public static func read(from path: String) throws(TLSError) -> RevocationRecord {
        var record = RevocationRecord()
        guard FileManager.default.fileExists(atPath: path) else { return record }
        guard let data = FileManager.default.contents(atPath: path),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { throw unreadable(path) }
        for (ca, value) in object {
            if let number = value as? Int {
                record.authorities[ca] = Authority(number: number, revoked: [])
            } else if let fields = value as? [String: Any], let number = fields["number"] as? Int,
                let revoked = fields["revoked"] as? [String],
                let entries = readEntries(fields["entries"] ?? [String: Any]())
            {
                record.authorities[ca] = Authority(number: number, revoked: Set(revoked), entries: entries)
            } else {
                throw unreadable(path)
            }
        }
        return record
    }

    /// `{"<serial>": {"revokedAt": "<RFC 3339>", "reason": <code>}}`; nil when malformed.
    private static func readEntries(_ value: Any) -> [String: CRLEntry]? {
        guard let object = value as? [String: Any] else { return nil }
        var entries: [String: CRLEntry] = [:]
        for (serial, value) in object {
            guard let fields = value as? [String: Any], let text = fields["revokedAt"] as? String,
                let date = try? Date(text, strategy: .iso8601)
            else { return nil }
            let reason = fields["reason"]
            guard reason == nil || reason is Int else { return nil }
            entries[serial] = CRLEntry(revokedAt: date, reasonCode: reason as? Int)
        }
        return entries
    }

    private static func unreadable(_ path: String) -> TLSError {
        TLSError(
            .invalidConfiguration,
            "\(path) is unreadable or not a JSON object of CRL numbers and revocations; it records the newest CRL "
                + "each CA has issued: restore it, or remove it to accept any CRL again")
    }

    /// Written through a temporary file and a rename, 0644 whatever the umask: a record anyone could write could be
    /// made to forget revocations (`Data.write` left it 0666 under umask 000).
    func write(to path: String) throws {
        let object = authorities.mapValues { authority in
            let entries = authority.entries.mapValues { entry in
                var fields: [String: Any] = ["revokedAt": entry.revokedAt.ISO8601Format()]
                fields["reason"] = entry.reasonCode
                return fields
            }
            let fields: [String: Any] = [
                "number": authority.number, "revoked": authority.revoked.sorted(), "entries": entries,
            ]
            return fields
        }
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
        if let problem = writeWhole(data, to: path, mode: 0o644) { throw TLSError(.invalidConfiguration, problem) }
    }
}
