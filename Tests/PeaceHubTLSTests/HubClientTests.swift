import COpenSSL
import Foundation
import NIOCore
import NIOEmbedded
import NIOPosix
import PeaceHubTLS
import PeaceHubTesting
import Synchronization
import Testing

/// The client side (hub-to-hub links) over real sockets against the test listener.
@Suite struct HubClientTests {
    /// Records what the client's TLS handler passes up.
    final class ClientRecorder: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        private let log: ServerLog

        init(log: ServerLog) { self.log = log }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let text = String(buffer: unwrapInboundIn(data))
            log.update { $0.received.append(text) }
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let identity = event as? TLSPeerIdentity { log.update { $0.identities.append(identity) } }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            if let error = error as? TLSError { log.update { $0.errors.append(error) } }
        }
    }

    private func connect(
        to server: TestServer, context: TLSContext, hostname: String, log: ServerLog
    ) async throws -> any Channel {
        try await connect(port: server.port, context: context, hostname: hostname, log: log)
    }

    private func connect(
        port: Int, context: TLSContext, hostname: String, log: ServerLog
    ) async throws -> any Channel {
        try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = try TLSHandler(context: context, serverHostname: hostname)
                    try channel.pipeline.syncOperations.addHandlers([handler, ClientRecorder(log: log)])
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
    }

    private func clientContext(
        _ fixture: TestPKI, caFile: String? = nil, cipherSuites: String? = nil,
        minimumVersion: TLSConfiguration.ProtocolVersion = .tlsv1_3
    ) throws -> TLSContext {
        let operatorEntry = try fixture.pki.issueOperator("hub-link")
        var configuration = TLSConfiguration.client(
            trustedCAFile: caFile ?? fixture.caFile, certificateFile: fixture.path(operatorEntry.certificatePath),
            privateKeyFile: fixture.path(operatorEntry.keyPath!), crlFile: fixture.crlFile)
        configuration.cipherSuites = cipherSuites
        configuration.minimumVersion = minimumVersion
        return try TLSContext(configuration: configuration)
    }

    @Test func verifiedServerIsIdentifiedByHostName() async throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let server = try await TestServer(configuration: fixture.serverConfiguration())
        let log = ServerLog()
        let channel = try await connect(
            to: server, context: try clientContext(fixture), hostname: "localhost", log: log)
        #expect(await log.wait { !$0.identities.isEmpty })
        let identity = try #require(log.snapshot.identities.first)
        #expect(identity.principal == .server("localhost"))
        #expect(identity.serial == fixture.server.serial)
        try await channel.writeAndFlush(ByteBuffer(string: "from another hub"))
        #expect(await log.wait { $0.received.joined() == "from another hub" })
        #expect(await server.log.wait { $0.identities.first?.principal == .operator("hub-link") })
        try await channel.close()
        // Our close_notify was answered, so neither side saw a truncation.
        #expect(await server.log.wait { !$0.closed.isEmpty })
        #expect(server.log.snapshot.errors.isEmpty)
        #expect(log.snapshot.errors.isEmpty)
        await server.stop()
    }

    @Test func hostNameMismatchIsRefused() async throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let server = try await TestServer(configuration: fixture.serverConfiguration())
        let log = ServerLog()
        let channel = try await connect(
            to: server, context: try clientContext(fixture), hostname: "hub.example.org", log: log)
        #expect(await log.wait { !$0.errors.isEmpty })
        let error = try #require(log.snapshot.errors.first)
        #expect(error.code == .certificateRejected)
        #expect(error.verifyResult == Int(X509_V_ERR_HOSTNAME_MISMATCH))
        try await channel.closeFuture.get()
        await server.stop()
    }

    @Test func serverFromAnotherCAIsRefused() async throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let rogue = try TestPKI()
        defer { rogue.remove() }
        let server = try await TestServer(configuration: rogue.serverConfiguration())
        let log = ServerLog()
        let channel = try await connect(
            to: server, context: try clientContext(fixture), hostname: "localhost", log: log)
        #expect(await log.wait { !$0.errors.isEmpty })
        let error = try #require(log.snapshot.errors.first)
        #expect(error.code == .certificateRejected)
        #expect(error.reason.hasPrefix("certificate verify failed: "))
        try await channel.closeFuture.get()
        await server.stop()
    }

    @Test func theCipherSuiteIsOneBothSidesAllow() async throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        // The client offers only ChaCha20-Poly1305, which OpenSSL's default list ranks below both AES-GCM suites.
        let client = try clientContext(fixture, cipherSuites: "TLS_CHACHA20_POLY1305_SHA256")
        let server = try await TestServer(configuration: fixture.serverConfiguration())
        let log = ServerLog()
        let channel = try await connect(to: server, context: client, hostname: "localhost", log: log)
        #expect(await log.wait { !$0.identities.isEmpty })
        #expect(log.snapshot.identities.first?.cipher == "TLS_CHACHA20_POLY1305_SHA256")
        #expect(await server.log.wait { $0.identities.first?.cipher == "TLS_CHACHA20_POLY1305_SHA256" })
        try await channel.close()
        await server.stop()

        // A server that accepts only AES-128-GCM refuses that client.
        var configuration = fixture.serverConfiguration()
        configuration.cipherSuites = "TLS_AES_128_GCM_SHA256"
        let strict = try await TestServer(configuration: configuration)
        let refusedLog = ServerLog()
        let refused = try await connect(to: strict, context: client, hostname: "localhost", log: refusedLog)
        #expect(await refusedLog.wait { !$0.errors.isEmpty })
        #expect(refusedLog.snapshot.identities.isEmpty)
        try await refused.closeFuture.get()
        #expect(await strict.log.wait { $0.errors.first?.reason.contains("no shared cipher") == true })
        await strict.stop()
    }

    /// A TLS 1.2 server that asks to renegotiate (the "R" command of `openssl s_server`) is refused with a
    /// no_renegotiation alert: the link keeps the server identity of its first handshake.
    @Test func aServerAskingToRenegotiateIsRefused() async throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let port = try freePort()
        // s_server reads its "R" once the test has seen the handshake complete (the trigger file), then ends.
        let trigger = fixture.path("renegotiate-now")
        let command =
            "(while [ ! -f '\(trigger)' ]; do sleep 0.1; done; echo R; sleep 2) | openssl s_server -tls1_2 "
            + "-naccept 1 -accept 127.0.0.1:\(port) -cert '\(fixture.path(fixture.server.certificatePath))' "
            + "-key '\(fixture.path(fixture.server.keyPath!))' -CAfile '\(fixture.caFile)' -Verify 1"
        // Started on a thread of its own, at once: s_server waits for the test, and a task of the shared pool may
        // start only after the connection attempts gave up when other tests hold the pool (a full run failed so).
        let finished = DispatchSemaphore(value: 0)
        let result = Mutex<Result<ProcessResult, any Error>?>(nil)
        Thread.detachNewThread {
            let outcome = Result { try ProcessRunner.run("sh", ["-c", command], timeout: 60) }
            result.withLock { $0 = outcome }
            finished.signal()
        }
        defer { _ = FileManager.default.createFile(atPath: trigger, contents: nil) }  // s_server ends however the test does
        let log = ServerLog()
        let client = try clientContext(fixture, minimumVersion: .tlsv1_2)
        var channel: (any Channel)?
        for _ in 0..<300 where channel == nil {  // until s_server listens
            channel = try? await connect(port: port, context: client, hostname: "localhost", log: log)
            if channel == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(await log.wait { $0.identities.first?.tlsVersion == "TLSv1.2" })
        _ = FileManager.default.createFile(atPath: trigger, contents: nil)
        let output: ProcessResult = try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                finished.wait()
                continuation.resume(with: result.withLock { $0! })
            }
        }
        let printed = output.stdout + output.stderr
        #expect(output.stdout.contains("SSL_do_handshake -> 1"), "\(printed)")  // the HelloRequest went out
        #expect(printed.contains("no renegotiation"), "\(printed)")
        #expect(log.snapshot.identities.count == 1)
        try await channel?.closeFuture.get()
    }

    @Test func unknownCipherSuitesAreRefused() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        // OpenSSL itself would skip an unknown name, or a TLS 1.2 one, and go on with the rest.
        // The name refused is given by its position, never shown.
        for (suites, position) in [
            ("TLS_AES_128_GCM_SHA256:TLS_NO_SUCH_SUITE", "the 2nd"),
            ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "the 1st"), ("", "the 1st"),
        ] {
            var configuration = fixture.serverConfiguration()
            configuration.cipherSuites = suites
            #expect { try TLSContext(configuration: configuration) } throws: {
                guard let error = $0 as? TLSError else { return false }
                return error.code == .invalidConfiguration
                    && error.reason.hasSuffix(
                        "is no TLS 1.3 suite of this OpenSSL, \(position) (suites are separated by colons)")
                    && !error.reason.contains("TLS_")
            }
        }
    }

    /// A host name goes in the ClientHello's server_name; an address does not: SNI names hosts only [RFC 6066 3]
    /// (`peacehub pub --server-name ::1` sent the literal).
    @Test func anAddressIsNoServerName() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        let context = try clientContext(fixture)
        /// Whether the first ClientHello the handler writes carries the server_name extension (type 0).
        func sendsServerName(_ name: String) throws -> Bool {
            let channel = EmbeddedChannel()
            try channel.pipeline.syncOperations.addHandler(try TLSHandler(context: context, serverHostname: name))
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
            let hello = try #require(try channel.readOutbound(as: ByteBuffer.self)).readableBytesView.map { $0 }
            _ = try? channel.close().wait()
            // Record (5), handshake header (4), version (2), random (32), then three length-prefixed fields.
            var index = 5 + 4 + 2 + 32
            index += 1 + Int(hello[index])
            index += 2 + (Int(hello[index]) << 8 | Int(hello[index + 1]))
            index += 1 + Int(hello[index])
            let end = index + 2 + (Int(hello[index]) << 8 | Int(hello[index + 1]))
            index += 2
            while index + 4 <= end {
                let type = Int(hello[index]) << 8 | Int(hello[index + 1])
                if type == 0 { return true }
                index += 4 + (Int(hello[index + 2]) << 8 | Int(hello[index + 3]))
            }
            return false
        }
        #expect(try sendsServerName("localhost"))
        #expect(try !sendsServerName("127.0.0.1"))
        #expect(try !sendsServerName("::1"))
    }

    @Test func clientContextNeedsAHostName() throws {
        let fixture = try TestPKI()
        defer { fixture.remove() }
        #expect { try TLSHandler(context: try clientContext(fixture)) } throws: {
            ($0 as? TLSError)?.code == .invalidConfiguration
        }
    }
}
