import Foundation
import NIOCore
import NIOPosix
import PeaceHubTLS
import PeaceHubTesting
import Synchronization

/// What the test listener saw, from its event loop threads.
final class ServerLog: Sendable {
    struct State {
        var identities: [TLSPeerIdentity] = []
        var errors: [TLSError] = []
        var otherErrors: [String] = []
        var received: [String] = []
        var receivedBytes = 0
        /// When each session with a verified identity closed, by serial.
        var closed: [String: ContinuousClock.Instant] = [:]
    }

    private let state = Mutex(State())

    var snapshot: State { state.withLock { $0 } }

    func update(_ body: (inout State) -> Void) { state.withLock { body(&$0) } }

    /// Waits (polling, up to `timeout`) until `condition` holds; returns whether it did.
    func wait(timeout: Duration = .seconds(30), until condition: (State) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition(snapshot) { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return condition(snapshot)
    }
}

/// Echoes plaintext back and records the TLS handler's events.
final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let log: ServerLog
    private let answerOnInputClosed: Int?
    private var serial: String?

    /// `answerOnInputClosed`: when the peer half-closes, write that many bytes, then close.
    init(log: ServerLog, answerOnInputClosed: Int? = nil) {
        self.log = log
        self.answerOnInputClosed = answerOnInputClosed
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        let text = String(buffer: buffer)
        log.update { state in
            state.received.append(text)
            state.receivedBytes += buffer.readableBytes
        }
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let identity = event as? TLSPeerIdentity {
            serial = identity.serial
            log.update { $0.identities.append(identity) }
        }
        if case ChannelEvent.inputClosed = event, let size = answerOnInputClosed {
            let answer = context.channel.allocator.buffer(repeating: UInt8(ascii: "a"), count: size)
            context.writeAndFlush(wrapOutboundOut(answer), promise: nil)
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Closes on any error, as the hub's protocol handlers do: the TLS handler must still let a refused client
    /// read its alert.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? TLSError {
            log.update { $0.errors.append(error) }
        } else {
            log.update { $0.otherErrors.append("\(error)") }
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let serial {
            let now = ContinuousClock.now
            log.update { $0.closed[serial] = now }
        }
        context.fireChannelInactive()
    }
}

/// A TLS echo listener on 127.0.0.1, on a free port, with its own event loop group.
final class TestServer: Sendable {
    let store: TLSContextStore
    let log = ServerLog()
    let port: Int
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel

    /// `answerOnInputClosed`: the channels allow half-closure, and answer it as `EchoHandler` says.
    init(configuration: TLSConfiguration, answerOnInputClosed: Int? = nil) async throws {
        let store = try TLSContextStore(configuration: configuration)
        let log = self.log
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: answerOnInputClosed != nil)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        try store.makeHandler(), EchoHandler(log: log, answerOnInputClosed: answerOnInputClosed),
                    ])
                }
            }
        do {
            channel = try await bootstrap.bind(host: "127.0.0.1", port: 0).get()
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        self.store = store
        self.group = group
        self.port = channel.localAddress?.port ?? 0
    }

    func stop() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }
}

/// The real clients: Python's ssl (Fixtures/tls_client.py) and `openssl s_client`.
enum Clients {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/tls_client.py").path

    /// Runs the Python client and decodes its one-line JSON report.
    static func python(_ mode: String, port: Int, _ arguments: [String]) async throws -> [String: String] {
        let result = try await Task.detached {
            try ProcessRunner.run("python3", [script, mode, "--port", "\(port)"] + arguments, timeout: 240)
        }.value
        let line = result.stdout.split(separator: "\n").last.map(String.init) ?? ""
        guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw ScriptError(description: "no JSON from tls_client.py: \(result.stdout) \(result.stderr)")
        }
        return object.mapValues { "\($0)" }
    }

    /// Runs `openssl s_client -brief`, feeding it `message` and keeping its stdin open a few seconds so that the
    /// echo can come back (at end of input s_client closes the session).
    static func sClient(port: Int, _ arguments: [String], message: String = "hello hub") async throws -> ProcessResult {
        let command =
            "(printf '\(message)\\n'; sleep 3) | openssl s_client -brief -connect 127.0.0.1:\(port) "
            + "-servername localhost -verify_return_error " + arguments.map { "'\($0)'" }.joined(separator: " ")
        return try await Task.detached { try ProcessRunner.run("sh", ["-c", command], timeout: 120) }.value
    }

    struct ScriptError: Error, CustomStringConvertible {
        var description: String
    }
}
