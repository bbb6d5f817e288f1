import Logging
import NIOCore
import PeaceHubCore

/// One client connection: turns decoded packets into broker calls and writes what the broker
/// answers, in the order the packets came [MQTT-4.6.0-2]. Sits above `MQTTDecoder` and
/// `MQTTEncoder`.
///
/// The principal arrives as an inbound user event (`Principal`) from the TLS layer once the
/// handshake has verified the client's certificate; a CONNECT without one is refused.
public final class MQTTConnectionHandler: ChannelInboundHandler, BrokerConnection, @unchecked Sendable {
    public typealias InboundIn = MQTTPacket
    public typealias OutboundOut = MQTTPacket

    enum State {
        case awaitingConnect
        /// CONNECT is being committed; packets that arrive meanwhile wait.
        case connecting(waiting: [MQTTPacket])
        case connected(clientID: String)
        case closed
    }

    private let broker: Broker
    private let eventLoop: any EventLoop
    private let logger: Logger
    // Touched only on the channel's event loop.
    private var state = State.awaitingConnect
    private var principal: Principal?
    private var context: ChannelHandlerContext?
    private var gracefulDisconnect = false
    private var keepAliveTask: RepeatedTask?
    private var lastPacket = NIODeadline.uptimeNanoseconds(0)
    /// Replies in the order their packets arrived; `nil` while the broker is still committing.
    private var replies = CircularBuffer<MQTTPacket??>()
    /// The hub is shutting down (`HubDraining`): see `drain(context:)`.
    private var draining = false

    /// Create one per channel, in its initializer: `eventLoop` is the channel's.
    public init(broker: Broker, eventLoop: any EventLoop, logger: Logger = Logger(label: "peacehub.mqtt")) {
        self.broker = broker
        self.eventLoop = eventLoop
        self.logger = logger
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        keepAliveTask?.cancel()
        self.context = nil
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let identity = event as? Principal { principal = identity }
        if event is HubDraining { drain(context: context) }
        context.fireUserInboundEventTriggered(event)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastPacket = eventLoop.now
        guard !draining else { return }
        process(unwrapInboundIn(data), context: context)
    }

    private func process(_ packet: MQTTPacket, context: ChannelHandlerContext) {
        switch state {
        case .awaitingConnect:
            guard case .connect(let connect) = packet else {
                return close(context, reason: "the first packet is not CONNECT [MQTT-3.1.0-1]")
            }
            handleConnect(connect, context: context)
        case .connecting(var waiting):
            waiting.append(packet)
            state = .connecting(waiting: waiting)
        case .connected(let clientID):
            handle(packet, clientID: clientID, context: context)
        case .closed:
            break
        }
    }

    private func handleConnect(_ connect: MQTTPacket.Connect, context: ChannelHandlerContext) {
        guard let principal else {
            context.writeAndFlush(wrapOutboundOut(.connack(.init(sessionPresent: false, returnCode: .notAuthorized))), promise: nil)
            return close(context, reason: "CONNECT without a verified client certificate")
        }
        state = .connecting(waiting: [])
        broker.connect(connect, principal: principal, connection: self) { result in
            self.onLoop { context in
                switch result {
                case .failure(let error):
                    self.close(context, reason: "the session could not be stored: \(error)")
                case .success(.refused(let code)):
                    context.writeAndFlush(self.wrapOutboundOut(.connack(.init(sessionPresent: false, returnCode: code))), promise: nil)
                    self.close(context, reason: "CONNECT refused with return code \(code.rawValue)")
                case .success(.accepted(let sessionPresent, let clientID)):
                    guard case .connecting(let waiting) = self.state else { return }
                    self.state = .connected(clientID: clientID)
                    self.logger.info("client connected", metadata: ["client": "\(clientID)", "principal": "\(principal)"])
                    context.write(
                        self.wrapOutboundOut(.connack(.init(sessionPresent: sessionPresent, returnCode: .accepted))),
                        promise: nil)
                    self.startKeepAlive(seconds: connect.keepAlive, context: context)
                    self.writeOutgoing(clientID: clientID)
                    for packet in waiting { self.process(packet, context: context) }
                    self.closeIfDrained(context)
                }
            }
        }
    }

    private func handle(_ packet: MQTTPacket, clientID: String, context: ChannelHandlerContext) {
        guard let principal else { return }
        switch packet {
        case .connect:
            close(context, reason: "a second CONNECT [MQTT-3.1.0-2]")
        case .publish(let publish):
            broker.publish(publish, clientID: clientID, principal: principal, reply: reserveReply())
        case .pubrel(let id):
            broker.release(packetID: id, clientID: clientID, reply: reserveReply())
        case .subscribe(let subscribe):
            broker.subscribe(subscribe, clientID: clientID, principal: principal, reply: reserveReply())
        case .unsubscribe(let unsubscribe):
            broker.unsubscribe(unsubscribe, clientID: clientID, reply: reserveReply())
        case .pingreq:
            reserveReply()(.success(.pingresp))
        case .puback, .pubrec, .pubcomp:
            broker.acknowledge(packet, clientID: clientID, reply: reserveReply())
            writeOutgoing(clientID: clientID)
        case .disconnect:
            gracefulDisconnect = true
            close(context, reason: "client disconnected")
        case .connack, .suback, .unsuback, .pingresp:
            close(context, reason: "a client sent a packet only servers send")
        }
    }

    /// Takes the next place in the reply order; the returned closure fills it from any thread.
    private func reserveReply() -> Broker.Reply {
        replies.append(nil)
        let slot = replies.count - 1 + repliesWritten
        return { result in
            self.onLoop { context in
                switch result {
                case .failure(let error):
                    self.close(context, reason: "the store failed: \(error)")
                case .success(let packet):
                    let index = self.replies.index(self.replies.startIndex, offsetBy: slot - self.repliesWritten)
                    self.replies[index] = .some(packet)
                    self.writeReadyReplies(context: context)
                }
            }
        }
    }

    /// How many replies have left the front of `replies`.
    private var repliesWritten = 0

    private func writeReadyReplies(context: ChannelHandlerContext) {
        var wrote = false
        while let first = replies.first, let ready = first {
            replies.removeFirst()
            repliesWritten += 1
            if let packet = ready {
                context.write(wrapOutboundOut(packet), promise: nil)
                wrote = true
            }
        }
        if wrote { context.flush() }
        closeIfDrained(context)
    }

    /// Writes what the broker has for this session, then flushes (QoS 2 deliveries may follow
    /// once the store has committed them).
    private func writeOutgoing(clientID: String) {
        broker.outgoing(clientID: clientID) { packets in
            self.onLoop { context in
                for packet in packets { context.write(self.wrapOutboundOut(packet), promise: nil) }
                context.flush()
            }
        }
    }

    /// Runs `body` on the channel's event loop, at once when already there.
    private func onLoop(_ body: @escaping (ChannelHandlerContext) -> Void) {
        if eventLoop.inEventLoop {
            if let context { body(context) }
        } else {
            eventLoop.execute {
                if let context = self.context { body(context) }
            }
        }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        if case .connected(let clientID) = state {
            broker.disconnected(clientID: clientID, connection: self, graceful: gracefulDisconnect)
        }
        state = .closed
        keepAliveTask?.cancel()
        context.fireChannelInactive()
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? MQTTError, error.code == .unsupportedProtocolLevel, case .awaitingConnect = state {
            context.writeAndFlush(
                wrapOutboundOut(.connack(.init(sessionPresent: false, returnCode: .unacceptableProtocolVersion))),
                promise: nil)
        }
        close(context, reason: "\(error)")
    }

    private func close(_ context: ChannelHandlerContext, reason: String) {
        logger.debug("closing MQTT connection", metadata: ["reason": "\(reason)"])
        context.close(promise: nil)
    }

    /// Closes the connection when no packet arrives within one and a half keep-alive periods
    /// [MQTT-3.1.2-24].
    private func startKeepAlive(seconds: UInt16, context: ChannelHandlerContext) {
        guard seconds > 0 else { return }
        let limit = TimeAmount.milliseconds(Int64(seconds) * 1500)
        keepAliveTask = context.eventLoop.scheduleRepeatedTask(initialDelay: limit, delay: .milliseconds(Int64(seconds) * 250)) {
            [weak self] _ in
            guard let self, let context = self.context else { return }
            if self.eventLoop.now - self.lastPacket > limit {
                self.close(context, reason: "keep-alive expired")
            }
        }
    }

    // MARK: BrokerConnection (any thread)

    public func wakeUp() {
        eventLoop.execute {
            guard let context = self.context, !self.draining, case .connected(let clientID) = self.state else { return }
            self.writeOutgoing(clientID: clientID)
        }
    }

    public func close(reason: String) {
        eventLoop.execute {
            guard let context = self.context else { return }
            self.close(context, reason: reason)
        }
    }
}

// MARK: Drain

extension MQTTConnectionHandler {
    /// The hub is shutting down: packets that arrive from now on are not processed (unacknowledged,
    /// the client sends them again after reconnecting), no new delivery starts, and the replies
    /// already under way (a QoS 1 PUBACK waits for its store commit) are written before the
    /// connection closes.
    private func drain(context: ChannelHandlerContext) {
        draining = true
        closeIfDrained(context)
    }

    /// Closes a draining connection once no reply is outstanding and no CONNECT is being stored.
    private func closeIfDrained(_ context: ChannelHandlerContext) {
        guard draining, replies.isEmpty else { return }
        if case .connecting = state { return }
        close(context, reason: "the hub is shutting down")
    }
}
