import Logging
import NIOCore
import PeaceHubCore
import PeaceHubTLS
import PeaceHubTesting
import Testing

/// Whatever a peer sends in place of a handshake or a record, the TLS handler refuses it with a `TLSError` and
/// closes, or waits for more: it never traps (a trap would take every connection of the hub down). A real
/// client's flights are mutated by a seeded generator (bytes changed, cut, inserted, record lengths rewritten),
/// so a failure replays exactly.
@Suite struct TLSHandlerFuzzTests {
    /// Changes anywhere, and a record length (bytes 3 and 4 of a record header) that disagrees with the record.
    static let mutation = Mutation(lengthField: { bytes, random in
        guard bytes.count > 4 else { return }
        bytes[3 + Int.random(in: 0...1, using: &random)] = UInt8.random(in: 0...255, using: &random)
    })

    /// Feeds `bytes` to the server in one read or in random pieces, then checks it holds together.
    static func feed(_ bytes: [UInt8], to harness: EmbeddedHarness, _ random: inout SplitMix64) {
        var rest = bytes[...]
        while !rest.isEmpty, harness.channel.isActive {
            let count = Bool.random(using: &random) ? rest.count : Int.random(in: 1...rest.count, using: &random)
            _ = try? harness.channel.writeInbound(ByteBuffer(bytes: rest.prefix(count)))
            rest = rest.dropFirst(count)
        }
        while (try? harness.channel.readOutbound(as: ByteBuffer.self)) ?? nil != nil {}
        let foreign = harness.recorder.errors.filter { !($0 is TLSError) }
        #expect(foreign.isEmpty, "not a TLSError: \(foreign)")
    }

    private func harness(_ fixture: TestPKI) throws -> EmbeddedHarness {
        let client = try MemoryBIOClient(
            caFile: fixture.caFile, certificateFile: fixture.path(fixture.contingent.certificatePath),
            keyFile: fixture.path(fixture.contingent.keyPath!))
        // A warning per refused session would bury the test's output.
        var quiet = Logger(label: "test.tls-fuzz")
        quiet.logLevel = .critical
        return try EmbeddedHarness(
            context: try TLSContext(configuration: fixture.serverConfiguration()), client: client, logger: quiet)
    }

    @Test func mutatedClientHellosAreRefusedNeverTrap() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        var random = SplitMix64(seed: 0x7153_0001)
        let first = try harness(fixture)
        _ = first.client.handshake()
        let hello = first.client.takeOutput()
        #expect(!hello.isEmpty)
        for _ in 0..<1_500 {
            Self.feed(Self.mutation.apply(to: hello, using: &random), to: try harness(fixture), &random)
        }
    }

    /// The client's second flight (its certificate, its signature, Finished) mutated after a real ServerHello.
    @Test func mutatedClientCertificateFlightsAreRefusedNeverTrap() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        var random = SplitMix64(seed: 0x7153_0002)
        for _ in 0..<300 {
            let harness = try harness(fixture)
            _ = harness.client.handshake()
            try harness.pump()
            _ = harness.client.handshake()
            let flight = harness.client.takeOutput()
            Self.feed(Self.mutation.apply(to: flight, using: &random), to: harness, &random)
        }
    }

    /// Records after a completed handshake, mutated: a record that fails to decrypt ends the connection.
    @Test func mutatedRecordsAfterTheHandshakeAreRefusedNeverTrap() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        var random = SplitMix64(seed: 0x7153_0003)
        for _ in 0..<300 {
            let harness = try harness(fixture)
            #expect(try harness.handshake() == .done)
            let payload = (0..<Int.random(in: 1...3000, using: &random)).map { UInt8(truncatingIfNeeded: $0) }
            _ = harness.client.write(payload)
            Self.feed(Self.mutation.apply(to: harness.client.takeOutput(), using: &random), to: harness, &random)
        }
    }
}
