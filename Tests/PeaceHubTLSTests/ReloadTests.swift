import Foundation
import PeaceHubTesting
import Synchronization
import Testing

@testable import PeaceHubTLS

extension TLSContext {
    /// The revoked serials, whichever CA's.
    var revokedSerials: Set<String> { Set(revoked.map(\.serial)) }
}

/// The context store and the session registry without sockets.
@Suite struct ReloadTests {
    @Test func registryClosesRevokedSessionsAndLateRegistrations() {
        let registry = TLSSessionRegistry()
        let closed = Mutex<[String]>([])
        func ours(_ serial: String) -> CertificateID {
            CertificateID(issuerKey: "5ca1ab1e", serial: serial)
        }
        let kept = registry.register([ours("0A")]) { _ in closed.withLock { $0.append("0A") } }
        _ = registry.register([ours("0B")]) { _ in closed.withLock { $0.append("0B") } }
        // Another CA's certificate of the same serial is another certificate (RFC 5280 4.1.2.2).
        _ = registry.register([CertificateID(issuerKey: "0ddba11", serial: "0B")]) { _ in
            closed.withLock { $0.append("other 0B") }
        }
        #expect(registry.applyRevocations([ours("0B"), ours("0C")]) == 1)
        #expect(closed.withLock { $0 } == ["0B"])
        // A handshake that finished on an older context registers after the reload: closed at once.
        _ = registry.register([ours("0C")]) { _ in closed.withLock { $0.append("0C") } }
        #expect(closed.withLock { $0 } == ["0B", "0C"])
        registry.unregister(kept)
        #expect(registry.applyRevocations([ours("0A")]) == 0)
    }

    /// A CA rotation between two CAs of `pki init`'s default name: the new CA's revocation of a serial closes and
    /// refuses its own certificate only, not the old CA's certificate of the same serial (a CRL entry is told apart
    /// by the key that signed the CRL, a session by its issuer's key).
    @Test func aRevocationByOneOfTwoCAsOfOneNameSparesTheOther() throws {
        let old = try TestPKI()
        defer { old.remove() }
        let new = try TestPKI()
        defer { new.remove() }
        let folder = old.directory
        let serial = new.contingent.serial
        let script = """
            set -e
            openssl genpkey -algorithm ED25519 -out twin.key
            openssl req -new -key twin.key -subj '/O=PeaceHub/CN=UZB contingent' -out twin.csr
            printf 'subjectAltName=URI:urn:peacehub:contingent:UZB\\nextendedKeyUsage=clientAuth\\n' > twin.ext
            openssl x509 -req -in twin.csr -CA '\(old.caFile)' -CAkey '\(old.pki.caKeyURL.path)' \\
                -set_serial 0x\(serial) -days 1 -extfile twin.ext -out twin.pem
            """
        let made = try ProcessRunner.run("sh", ["-c", script], currentDirectory: folder.url)
        try #require(made.status == 0, "\(made.stderr)")
        func contents(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }
        func writeBothCAs() throws {
            try (contents(old.caFile) + contents(new.caFile)).write(to: folder.url.appendingPathComponent("ca.pem"))
            try (contents(old.crlFile) + contents(new.crlFile)).write(to: folder.url.appendingPathComponent("crl.pem"))
        }
        try writeBothCAs()
        var configuration = new.serverConfiguration()
        configuration.trustedCAFile = folder.path("ca.pem")
        configuration.crlFile = folder.path("crl.pem")
        let store = try TLSContextStore(configuration: configuration)
        func connect(_ certificate: String, _ key: String) throws -> EmbeddedHarness {
            let client = try MemoryBIOClient(caFile: new.caFile, certificateFile: certificate, keyFile: key)
            let harness = try EmbeddedHarness(context: store.current, client: client, sessions: store.sessions)
            _ = try harness.handshake()
            harness.channel.embeddedEventLoop.run()
            return harness
        }
        let doomed = try connect(new.path(new.contingent.certificatePath), new.path(new.contingent.keyPath!))
        let twin = try connect(folder.path("twin.pem"), folder.path("twin.key"))
        #expect(twin.recorder.identities.first?.principal == .contingent("UZB"))
        #expect(twin.recorder.identities.first?.serial == serial)

        try new.pki.revoke(serial: serial)
        try writeBothCAs()
        #expect(try store.reload() == 1)
        for harness in [doomed, twin] { harness.channel.embeddedEventLoop.run() }
        #expect(doomed.recorder.tlsErrors.map(\.code) == [.sessionRevoked])
        #expect(twin.recorder.tlsErrors.isEmpty)
        let again = try connect(folder.path("twin.pem"), folder.path("twin.key"))
        #expect(again.recorder.identities.first?.principal == .contingent("UZB"))
        #expect(again.recorder.tlsErrors.isEmpty)
    }

    /// The watcher's signature of a file (stat(2): size, modification time, inode) changes when the file is
    /// rewritten in place to the same size within a second, when it is replaced by rename with the same contents
    /// and time, and when it disappears.
    @Test func aFileSignatureChangesWithTheFile() throws {
        let folder = try TemporaryDirectory(prefix: "phub-signature")
        defer { folder.remove() }
        let url = folder.url.appendingPathComponent("crl.pem")
        let replacement = folder.url.appendingPathComponent("crl.pem.new")
        func write(_ text: String, to url: URL, modified: TimeInterval) throws {
            try Data(text.utf8).write(to: url)
            try FileManager.default.setAttributes(
                [.modificationDate: Date(timeIntervalSince1970: modified)], ofItemAtPath: url.path)
        }
        try write("first", to: url, modified: 1_800_000_000.25)
        let first = TLSFileWatcher.FileSignature(path: url.path)
        #expect(first.size == 5 && first.modified != nil && first.inode != nil)
        #expect(TLSFileWatcher.FileSignature(path: url.path) == first)

        try write("later", to: url, modified: 1_800_000_000.5)
        let rewritten = TLSFileWatcher.FileSignature(path: url.path)
        #expect(rewritten != first)
        try write("later", to: replacement, modified: 1_800_000_000.5)
        try #require(rename(replacement.path, url.path) == 0)
        let replaced = TLSFileWatcher.FileSignature(path: url.path)
        #expect(replaced != rewritten && replaced.size == rewritten.size && replaced.modified == rewritten.modified)
        try FileManager.default.removeItem(at: url)
        #expect(TLSFileWatcher.FileSignature(path: url.path) == TLSFileWatcher.FileSignature(path: replacement.path))
        #expect(TLSFileWatcher.FileSignature(path: url.path) != replaced)
    }

    @Test func failedReloadKeepsThePreviousContext() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let store = try TLSContextStore(configuration: fixture.serverConfiguration())
        let before = store.current
        try FileManager.default.removeItem(atPath: fixture.crlFile)
        #expect {
            try store.reload()
        } throws: { error in
            (error as? TLSError)?.reason == "CRL file \(fixture.crlFile) is missing or unreadable"
        }
        #expect(store.current === before)
        #expect(store.lastReloadError?.code == .invalidConfiguration)

        try fixture.pki.writeCRL()
        #expect(try store.reload() == 0)
        #expect(store.current !== before)
        #expect(store.lastReloadError == nil)
        #expect(store.reloadCount == 1)
    }

    /// An older CRL of the same CA (a restored backup) would take revocations back: the reload is refused.
    @Test func anOlderCRLIsRefused() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let store = try TLSContextStore(configuration: fixture.serverConfiguration())
        let older = try Data(contentsOf: URL(fileURLWithPath: fixture.crlFile))
        let revoked = try fixture.pki.revoke(contingent: "KAZ")
        try store.reload()
        let serial = try #require(revoked.first?.serial)
        #expect(store.current.revokedSerials.contains(serial))

        let loaded = store.current
        try older.write(to: URL(fileURLWithPath: fixture.crlFile))
        #expect {
            try store.reload()
        } throws: { error in
            let reason = (error as? TLSError)?.reason ?? ""
            return reason.contains("is number 1, older than the loaded number 2: it would take revocations back")
        }
        #expect(store.current === loaded && store.current.revokedSerials.contains(serial))
        // A newer one is taken again.
        try fixture.pki.writeCRL()
        try store.reload()
        #expect(store.current !== loaded && store.current.revokedSerials.contains(serial))
    }

    /// A CRL of the loaded number that lists other certificates is refused: two CRLs numbered 2 each revoking another
    /// certificate (two `pki` runs on copies) let a reload take the first revocation back. The same list is taken.
    @Test func aChangedCRLUnderTheLoadedNumberIsRefused() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let scratch = try TemporaryDirectory(prefix: "phub-pki-copy")
        defer { scratch.remove() }
        let copy = scratch.path("pki")
        try FileManager.default.copyItem(at: fixture.pki.directory, to: URL(fileURLWithPath: copy))
        let store = try TLSContextStore(configuration: fixture.serverConfiguration())
        _ = try fixture.pki.revoke(contingent: "KAZ")
        try store.reload()
        let loaded = store.current
        let sameAgain = try Data(contentsOf: URL(fileURLWithPath: fixture.crlFile))

        let other = PKI(directory: URL(fileURLWithPath: copy))
        _ = try other.issueContingent("KAZ", device: "spare", key: .generate(.p256))
        _ = try other.revoke(serial: try other.list().certificates.last!.serial, reason: .unspecified)
        try Data(contentsOf: other.crlURL).write(to: URL(fileURLWithPath: fixture.crlFile))
        #expect {
            try store.reload()
        } throws: { error in
            let reason = (error as? TLSError)?.reason ?? ""
            return reason.contains("is number 2, as the loaded one, but lists other certificates")
        }
        #expect(store.current === loaded)
        try sameAgain.write(to: URL(fileURLWithPath: fixture.crlFile))
        try store.reload()
        #expect(store.current !== loaded)
    }

    /// A CRL whose lastUpdate lies ahead (the CA machine's clock fast) would have OpenSSL refuse every client: it is
    /// refused at start and on reload instead. `pki` dates its CRLs five minutes back, so a hub a little behind
    /// takes them at once.
    @Test func aCRLNotYetValidIsRefused() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let store = try TLSContextStore(configuration: fixture.serverConfiguration())
        try fixture.pki.writeCRL(now: Date().addingTimeInterval(3600))
        let ahead: (any Error) -> Bool = { ($0 as? TLSError)?.reason.contains("is not valid before") == true }
        #expect(performing: { try store.reload() }, throws: ahead)
        #expect(performing: { _ = try TLSContextStore(configuration: fixture.serverConfiguration()) }, throws: ahead)
        try fixture.pki.writeCRL(now: Date().addingTimeInterval(200))
        try store.reload()
    }

    /// The highest number loaded is recorded: an older CRL put back while the hub was stopped is refused at the
    /// next start, and a newer one is taken and recorded.
    @Test func anOlderCRLIsRefusedAfterARestart() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let numbers = fixture.path("crl-numbers.json")
        let older = try Data(contentsOf: URL(fileURLWithPath: fixture.crlFile))
        _ = try TLSContextStore(configuration: fixture.serverConfiguration(), crlNumbersFile: numbers)
        _ = try fixture.pki.revoke(contingent: "KAZ")
        let store = try TLSContextStore(configuration: fixture.serverConfiguration(), crlNumbersFile: numbers)
        #expect(store.current.crlNumbers.values.max() == 2)

        try older.write(to: URL(fileURLWithPath: fixture.crlFile))
        #expect {
            _ = try TLSContextStore(configuration: fixture.serverConfiguration(), crlNumbersFile: numbers)
        } throws: { error in
            (error as? TLSError)?.reason.contains("is number 1, older than the loaded number 2") == true
        }
        // Without the record (another data directory) the same files load: the record is what refuses them.
        _ = try TLSContextStore(configuration: fixture.serverConfiguration())
        try fixture.pki.writeCRL()
        let newer = try TLSContextStore(configuration: fixture.serverConfiguration(), crlNumbersFile: numbers)
        #expect(newer.current.crlNumbers.values.max() == 3)
        #expect(try RevocationRecord.read(from: numbers).authorities.values.map(\.number).max() == 3)

        try Data("{".utf8).write(to: URL(fileURLWithPath: numbers))
        #expect {
            _ = try TLSContextStore(configuration: fixture.serverConfiguration(), crlNumbersFile: numbers)
        } throws: { error in
            let reason = (error as? TLSError)?.reason ?? ""
            return reason.hasPrefix("\(numbers) is unreadable or not a JSON object of CRL numbers")
        }
    }

    /// During a CA rotation the CA file holds both CAs and the CRL file both CRLs; `pki crl` of the old CA rewrote
    /// the CRL file with its own alone, and the hub took it and refused every client of the new CA ("unable to get
    /// certificate CRL"). A CRL file without the CRL of a trusted CA whose CRL was loaded before is refused, at
    /// reload and at start.
    @Test func aTrustedCAsCRLCannotGoMissing() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let newer = PKI(directory: fixture.directory.url.appendingPathComponent("new-ca"))
        try newer.initialize(commonName: "PeaceHub CA 2027")
        let folder = fixture.directory.url
        let (cas, crls) = (folder.appendingPathComponent("cas.pem"), folder.appendingPathComponent("crls.pem"))
        func combine(_ files: [URL], into file: URL) throws {
            try files.map { try Data(contentsOf: $0) }.reduce(Data(), +).write(to: file)
        }
        try combine([fixture.pki.caCertificateURL, newer.caCertificateURL], into: cas)
        try combine([fixture.pki.crlURL, newer.crlURL], into: crls)
        var configuration = fixture.serverConfiguration()
        configuration.trustedCAFile = cas.path
        configuration.crlFile = crls.path
        let numbers = fixture.path("crl-numbers.json")
        let store = try TLSContextStore(configuration: configuration, crlNumbersFile: numbers)

        try fixture.pki.writeCRL()
        try combine([fixture.pki.crlURL], into: crls)
        let missing: (any Error) -> Bool = {
            ($0 as? TLSError)?.reason.contains("has no CRL of CN=PeaceHub CA 2027") == true
        }
        #expect(performing: { try store.reload() }, throws: missing)
        #expect(
            performing: { _ = try TLSContextStore(configuration: configuration, crlNumbersFile: numbers) },
            throws: missing)
        try combine([fixture.pki.crlURL, newer.crlURL], into: crls)
        try store.reload()
    }

    /// A revocation is final. A restored backup of the PKI folder (index and CRL) brought an older CRL, which was
    /// refused; but `pki crl` on the restored index then wrote CRLs without the revocation, and the second, with a
    /// number above the loaded one, was taken (the first kept the loaded number). A CRL that leaves out a
    /// certificate an earlier loaded one revoked is refused now, at reload and at start, and `pki crl` with the
    /// hub's record writes one above the recorded number that lists the revocation again.
    @Test func aRestoredBackupCannotTakeARevocationBack() throws {
        let restorable = try RestorablePKI()
        defer { restorable.fixture.remove() }
        let (fixture, recorded, store) = (restorable.fixture, restorable.recorded, restorable.store)
        let revokedAt = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 / 60).rounded(.down) * 60 - 3600)
        let serial = try #require(
            try recorded.revoke(contingent: "KAZ", reason: .keyCompromise, now: revokedAt).first?.serial)
        try store.reload()
        let kaz = try #require(store.current.revoked.first { $0.serial == serial })

        try restorable.restoreBackup()
        try fixture.pki.writeCRL()  // number 2 again, without KAZ
        try fixture.pki.writeCRL()  // number 3, without KAZ
        let takesBack: (any Error) -> Bool = {
            ($0 as? TLSError)?.reason.contains("no longer lists serial \(serial), which an earlier CRL revoked") == true
        }
        #expect(performing: { try store.reload() }, throws: takesBack)
        #expect(
            performing: {
                _ = try TLSContextStore(
                    configuration: fixture.serverConfiguration(), crlNumbersFile: restorable.numbers)
            }, throws: takesBack)

        try recorded.writeCRL()
        try store.reload()
        #expect(store.current.crlNumbers.values.max() == 4)
        #expect(store.current.revoked.contains(kaz))
        // Listed again with its first date and reason, which the hub's record kept (it was as of now, unspecified).
        let entry = try #require(try recorded.list().certificates.first { $0.serial == serial })
        #expect(entry.revokedAt == revokedAt && entry.revocationReason == .keyCompromise)
        let listed = store.current.crlRevocations.values.compactMap { $0[kaz.serial] }
        #expect(listed == [CRLEntry(revokedAt: revokedAt, reasonCode: 1)])

        // Restored again, the certificate looks valid, and an operator revokes it anew: the first date and reason
        // stand (a keyCompromise was published as superseded, an hour later).
        try restorable.restoreBackup()
        let again = try recorded.revoke(contingent: "KAZ", reason: .superseded)
        #expect(again.map(\.revokedAt) == [revokedAt] && again.map(\.revocationReason) == [.keyCompromise])
        try store.reload()
        #expect(store.current.crlRevocations.values.compactMap { $0[kaz.serial] } == listed)
    }

    /// `pki crl` counts what the CRL lists: after a backup older than a certificate was restored, the index no
    /// longer knows the certificate, but its revocation is listed (and the summary said one fewer).
    @Test func thePublishedCountIncludesRevocationsOnlyTheRecordKnows() throws {
        let restorable = try RestorablePKI()
        defer { restorable.fixture.remove() }
        let (recorded, store) = (restorable.recorded, restorable.store)
        let later = try recorded.issueContingent("TJK")
        try recorded.revoke(contingent: "TJK", reason: .keyCompromise)
        try store.reload()

        try restorable.restoreBackup()
        #expect(try !recorded.list().certificates.contains { $0.serial == later.serial })
        let published = try recorded.writeCRL()
        #expect(published.revocations == 1)
        try store.reload()
        #expect(store.current.revoked.contains { $0.serial == later.serial })
    }

    /// The record of revocations is 0644 whatever the umask: under umask 000 it was 0666, and anyone could make the
    /// hub forget a revocation.
    @Test func theRevocationRecordIsWritableByItsOwnerOnly() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let previous = umask(0)
        defer { umask(previous) }
        var record = RevocationRecord()
        let entry = CRLEntry(revokedAt: Date(timeIntervalSince1970: 1_800_000_000), reasonCode: 1)
        record.authorities["CA"] = .init(number: 2, revoked: ["1A"], entries: ["1A": entry])
        try record.write(to: folder.path("crl-numbers.json"))
        let mode = try FileManager.default.attributesOfItem(atPath: folder.path("crl-numbers.json"))[.posixPermissions]
        #expect(mode as? Int == 0o644)
        #expect(try RevocationRecord.read(from: folder.path("crl-numbers.json")) == record)
    }

    /// An expired server certificate would lock every client out: the hub does not start on it, and a reload
    /// that brings one keeps the certificate in use.
    @Test func anExpiredServerCertificateIsRefused() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let store = try TLSContextStore(configuration: fixture.serverConfiguration())
        let loaded = store.current
        let expired = try fixture.issueCustom(
            name: "expired-server", subjectCN: Array("localhost".utf8), usage: .serverAuth,
            notBefore: Date().addingTimeInterval(-10 * 86400), notAfter: Date().addingTimeInterval(-86400))
        let replacements = [
            (expired.certificatePath, fixture.server.certificatePath), (expired.keyPath!, fixture.server.keyPath!),
        ]
        for (from, to) in replacements {
            try FileManager.default.removeItem(atPath: fixture.path(to))
            try FileManager.default.copyItem(atPath: fixture.path(from), toPath: fixture.path(to))
        }
        let path = fixture.path(fixture.server.certificatePath)
        #expect {
            try store.reload()
        } throws: { error in
            (error as? TLSError)?.reason.hasPrefix("certificate \(path) expired on ") == true
        }
        #expect(store.current === loaded)
        #expect(throws: TLSError.self) { try fixture.serverContext() }
    }

    @Test func crlStatusFollowsNextUpdate() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let context = try fixture.serverContext()
        let nextUpdate = try #require(context.crlNextUpdate)
        let ca = try #require(context.crlNextUpdates.keys.first)
        #expect(ca.hasPrefix("CN=PeaceHub CA,O=PeaceHub (key "))
        #expect(context.crlStatus(now: nextUpdate.addingTimeInterval(-8 * 86400)) == .current(nextUpdate: nextUpdate))
        let soon = context.crlStatus(now: nextUpdate.addingTimeInterval(-86400))
        #expect(soon == .expiresSoon(nextUpdate: nextUpdate, ca: ca))
        #expect(context.crlStatus(now: nextUpdate.addingTimeInterval(1)) == .expired(nextUpdate: nextUpdate, ca: ca))
    }

    /// With two CAs trusted, the CRL that lapses is named with its CA, whose clients alone are refused: the other
    /// CA's still pass, so neither the log nor the readiness check may say that every client is refused.
    @Test func aLapsedCRLOfOneOfTwoCAsNamesThatCA() throws {
        let old = try TestPKI(caName: "PeaceHub CA 2026")
        defer { old.remove() }
        let new = try TestPKI()
        defer { new.remove() }
        try old.pki.writeCRL(days: 1)
        let folder = new.directory
        func contents(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }
        try (contents(old.caFile) + contents(new.caFile)).write(to: folder.url.appendingPathComponent("ca.pem"))
        try (contents(new.crlFile) + contents(old.crlFile)).write(to: folder.url.appendingPathComponent("crl.pem"))
        let context = try TLSContext.clientVerifier(
            trustedCAFile: folder.path("ca.pem"), crlFile: folder.path("crl.pem"))
        let lapsed = try #require(context.crlNextUpdate).addingTimeInterval(60)

        guard case .expired(_, let ca) = context.crlStatus(now: lapsed) else {
            Issue.record("\(context.crlStatus(now: lapsed))")
            return
        }
        #expect(ca.hasPrefix("CN=PeaceHub CA 2026,O=PeaceHub (key "))
        #expect(!"\(context.crlStatus(now: lapsed))".contains("every client"))
        let problems = context.expiryProblems(now: lapsed)
        #expect(problems == [
            "the CRL of \(ca) in \(folder.path("crl.pem")) is past its nextUpdate "
                + "\(try #require(context.crlNextUpdate).ISO8601Format()): the clients of that CA are refused until it "
                + "writes a new one (peacehub pki crl)"
        ])
        let newClient = try contents(new.path(new.contingent.certificatePath))
        #expect((try? context.verifyClientCertificate(newClient, at: lapsed).get()) != nil)
        let oldClient = try contents(old.path(old.contingent.certificatePath))
        guard case .failure(let refused) = context.verifyClientCertificate(oldClient, at: lapsed) else {
            Issue.record("a client of the CA whose CRL lapsed was accepted")
            return
        }
        #expect(refused.reason.contains("CRL has expired"), "\(refused)")
    }

    /// What the readiness check reports: nothing while current, then the CRL past its nextUpdate and the server
    /// certificate past its notAfter, each named.
    @Test func expiryProblemsNameTheCRLAndTheCertificate() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let context = try fixture.serverContext()
        let nextUpdate = try #require(context.crlNextUpdate)
        let notAfter = try #require(context.certificateNotAfter)
        try #require(nextUpdate < notAfter)
        #expect(context.expiryProblems().isEmpty)
        #expect(context.expiryProblems(now: nextUpdate.addingTimeInterval(-1)).isEmpty)
        let crl = context.expiryProblems(now: nextUpdate.addingTimeInterval(1))
        #expect(crl.count == 1)
        #expect(
            crl.first?.hasPrefix("the CRL of CN=PeaceHub CA,O=PeaceHub (key ") == true
                && crl.first?.contains(" in \(fixture.crlFile) is past its nextUpdate") == true, "\(crl)")
        let both = context.expiryProblems(now: notAfter.addingTimeInterval(1))
        #expect(both.count == 2)
        let certificate = fixture.path(fixture.server.certificatePath)
        #expect(both.first?.hasPrefix("the certificate \(certificate) expired on ") == true, "\(both)")
    }
}

/// A PKI with the hub's record of revocations (`crl-numbers.json`), a context store that loads its CRLs, and a
/// backup of its index and CRL taken at the start, to be restored over what follows.
private struct RestorablePKI {
    let fixture: TestPKI
    let numbers: String
    let recorded: PKI
    let store: TLSContextStore
    private let backup: [(URL, Data)]

    init() throws {
        fixture = try TestPKI()
        numbers = fixture.path("crl-numbers.json")
        recorded = PKI(directory: fixture.pki.directory, revocationRecord: URL(fileURLWithPath: numbers))
        backup = try [fixture.pki.indexURL, fixture.pki.crlURL].map { ($0, try Data(contentsOf: $0)) }
        store = try TLSContextStore(configuration: fixture.serverConfiguration(), crlNumbersFile: numbers)
    }

    func restoreBackup() throws {
        for (url, data) in backup { try data.write(to: url) }
    }
}
