import COpenSSL
import Logging
import NIOCore
import NIOEmbedded
import PeaceHubTLS
import Synchronization

/// Records what the TLS handler passes up the pipeline.
final class Recorder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    var reads: [ByteBuffer] = []
    var identities: [TLSPeerIdentity] = []
    var errors: [any Error] = []
    var inactive = false

    var tlsErrors: [TLSError] { errors.compactMap { $0 as? TLSError } }
    var received: [UInt8] { reads.flatMap { Array($0.readableBytesView) } }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        reads.append(unwrapInboundIn(data))
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let identity = event as? TLSPeerIdentity { identities.append(identity) }
    }

    /// Close on an error, as the hub's protocol handlers do.
    var closesOnError = false

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        errors.append(error)
        if closesOnError { context.close(promise: nil) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        inactive = true
    }
}

/// Counts read() requests and records closes reaching the channel (it sits between the channel and the TLS handler).
final class ReadCounter: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    var reads = 0
    var closeModes: [CloseMode] = []

    func read(context: ChannelHandlerContext) {
        reads += 1
        context.read()
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        closeModes.append(mode)
        context.close(mode: mode, promise: promise)
    }
}

/// A TLSHandler on an EmbeddedChannel talking to a MemoryBIOClient.
struct EmbeddedHarness {
    let channel: EmbeddedChannel
    let recorder = Recorder()
    let readCounter = ReadCounter()
    let client: MemoryBIOClient

    init(
        context: TLSContext, client: MemoryBIOClient, sessions: TLSSessionRegistry? = nil,
        logger: Logger = Logger(label: "peacehub.tls")
    ) throws {
        self.client = client
        channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers([
            readCounter, try TLSHandler(context: context, sessions: sessions, logger: logger), recorder,
        ])
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
    }

    /// Moves ciphertext both ways until neither side has anything more; `drip` feeds the server one byte at a time.
    func pump(drip: Bool = false) throws {
        while true {
            var moved = false
            let output = client.takeOutput()
            if !output.isEmpty && channel.isActive {
                moved = true
                if drip {
                    for byte in output where channel.isActive { try channel.writeInbound(ByteBuffer(bytes: [byte])) }
                } else {
                    try channel.writeInbound(ByteBuffer(bytes: output))
                }
            }
            while let data = try channel.readOutbound(as: ByteBuffer.self) {
                client.receive(Array(data.readableBytesView))
                moved = true
            }
            if !moved { return }
        }
    }

    /// Runs the client handshake to its end and lets the server see the client's last flight.
    func handshake(drip: Bool = false) throws -> MemoryBIOClient.Step {
        for _ in 0..<100 {
            let step = client.handshake()
            try pump(drip: drip)
            if step != .wantsMore { return step }
        }
        return .wantsMore
    }

    /// Reads from the client until `count` bytes arrived, the session ended, or nothing more comes.
    func clientRead(count: Int) throws -> (bytes: [UInt8], step: MemoryBIOClient.Step) {
        var bytes: [UInt8] = []
        var last = MemoryBIOClient.Step.wantsMore
        repeat {
            try pump()
            let (chunk, step) = client.read()
            bytes += chunk
            last = step
            if chunk.isEmpty { break }
        } while bytes.count < count && last == .wantsMore
        return (bytes, last)
    }
}
