import Logging
import NIOCore
import NIOPosix
import PeaceHubTLS

/// A connected load-generator client: the channel and its `LoadHandler`, driven from async code through the
/// channel's event loop.
struct LoadClient: Sendable {
    let channel: any Channel
    private let handler: LoadHandler

    /// Connects over TCP and TLS 1.3 with the contingent's certificate, then CONNECT (MQTT, waits for CONNACK) or
    /// INFO, TLS, CONNECT and PING (NATS, waits for PONG).
    static func connect(
        to server: ServerEndpoint, tls: TLSContext, clientID: String, cleanSession: Bool = true,
        group: any EventLoopGroup, runWindow: RunWindow, flow: FlowControl? = nil, timeout: TimeAmount = .seconds(20)
    ) async throws -> LoadClient {
        let eventLoop = group.next()
        let ready = eventLoop.makePromise(of: Void.self)
        let handler = LoadHandler(
            wire: server.wire, tls: tls, clientID: clientID, cleanSession: cleanSession, runWindow: runWindow, flow: flow,
            ready: ready)
        let wire = server.wire
        let channel = try await ClientBootstrap(group: eventLoop)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if wire != .nats {
                        try channel.pipeline.syncOperations.addHandler(
                            TLSHandler(context: tls, serverHostname: "localhost", logger: quietLogger))
                    }
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .connect(host: "127.0.0.1", port: server.port).get()
        let timer = eventLoop.scheduleTask(in: timeout) { ready.fail(BenchError("\(clientID): no answer to CONNECT")) }
        do {
            try await ready.futureResult.get()
            timer.cancel()
        } catch {
            timer.cancel()
            channel.close(promise: nil)
            throw error
        }
        return LoadClient(channel: channel, handler: handler)
    }

    func subscribe(_ topic: String, qos: Int) async throws {
        let handler = self.handler
        try await channel.eventLoop.flatSubmit { handler.subscribe(topic: topic, qos: qos) }.get()
    }

    func startPublishing(_ plan: PublishPlan) {
        let handler = self.handler
        channel.eventLoop.execute { handler.startPublishing(plan) }
    }

    func stopPublishing() async throws {
        let handler = self.handler
        try await channel.eventLoop.submit { handler.stopPublishing() }.get()
    }

    func stats() async throws -> ConnectionStats {
        let handler = self.handler
        return try await channel.eventLoop.submit { handler.stats }.get()
    }

    /// DISCONNECT (MQTT) and close; never throws (a server may have closed first).
    func close() async {
        let handler = self.handler
        try? await channel.eventLoop.flatSubmit { handler.disconnect() }.get()
    }
}

/// The TLS handler's logger for the generator's own connections: a line per handshake would cost the client CPU.
let quietLogger: Logger = {
    var logger = Logger(label: "peacehub.bench.tls")
    logger.logLevel = .critical
    return logger
}()

/// Opens many connections with a bounded number of handshakes in flight.
func connectAll(
    count: Int, concurrency: Int, _ connect: @escaping @Sendable (Int) async throws -> LoadClient
) async throws -> [LoadClient] {
    try await withThrowingTaskGroup(of: (Int, LoadClient).self) { group in
        var clients = [LoadClient?](repeating: nil, count: count)
        var next = 0
        while next < min(concurrency, count) {
            let index = next
            group.addTask { (index, try await connect(index)) }
            next += 1
        }
        while let (index, client) = try await group.next() {
            clients[index] = client
            if next < count {
                let index = next
                group.addTask { (index, try await connect(index)) }
                next += 1
            }
        }
        return clients.map { $0! }
    }
}

/// Closes every client, many at a time.
func closeAll(_ clients: [LoadClient]) async {
    await withTaskGroup(of: Void.self) { group in
        for client in clients { group.addTask { await client.close() } }
    }
}
