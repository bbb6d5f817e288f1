import Logging
import NIOCore
import PeaceHubCore
import Synchronization

/// One client connection, MQTT 3.1.1 or 5.0: turns the client's packets into broker calls and writes what the
/// broker answers, in the order the packets came [MQTT-4.6.0-2]. Reads and writes bytes: it splits what arrives
/// into packets with its own `MQTTDecoder` (a `ByteToMessageHandler` in front would cost a pipeline step, a boxed
/// packet and generic dispatch for every message), and encodes in the connection's version itself, because what
/// a 5.0 client may receive depends on what it said in CONNECT (its Maximum Packet Size, Topic Alias Maximum,
/// Request Problem Information).
///
/// The principal arrives as an inbound user event (`Principal`) from the TLS layer once the handshake has
/// verified the client's certificate; a CONNECT without one is refused.
///
/// Nothing more is read from a client that leaves the hub's answers unread (while the channel is not writable):
/// one that wrote PINGREQs without reading had its answers pile up without bound (63 MB in 12 s) and delayed
/// the other connections of its event loop by 100 ms at a time.
public final class MQTTConnectionHandler: ChannelDuplexHandler, BrokerConnection, @unchecked Sendable {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundIn = Never
    public typealias OutboundOut = ByteBuffer

    enum State {
        case awaitingConnect
        /// CONNECT is being committed; packets that arrive meanwhile wait.
        case connecting(waiting: [MQTTPacket])
        case connected(clientID: String)
        case closed
    }

    /// What a 5.0 client asked for in its CONNECT, and what the hub told it in CONNACK (fixed for the connection,
    /// whatever a reload changes later); a 3.1.1 client asks for nothing.
    struct ClientLimits {
        var maximumPacketSize: Int?
        var topicAliasMaximum: UInt16 = 0
        /// False when the client sent Request Problem Information 0.
        var problemInformation = true
        /// The Session Expiry Interval in force (a DISCONNECT may not raise it from 0).
        var sessionExpiryInterval: UInt32 = 0
        /// The hub's Receive Maximum and Topic Alias Maximum, as its CONNACK said.
        var hubReceiveMaximum: UInt16 = .max
        var hubTopicAliasMaximum: UInt16 = 0
    }

    private let broker: Broker
    private let eventLoop: any EventLoop
    private let logger: Logger
    // Touched only on the channel's event loop.
    private var decoder: MQTTDecoder
    /// The start of a packet whose end has not arrived yet; `nil` between packets, so an idle connection keeps
    /// no buffer.
    private var partial: ByteBuffer?
    private var state = State.awaitingConnect
    private var version = MQTTVersion.v3_1_1
    private var principal: Principal?
    private var context: ChannelHandlerContext?
    private var limits = ClientLimits()
    private var connackSent = false
    /// How the connection ends once the CONNECT being stored is answered: a CONNACK comes first [MQTT-3.2.0-1],
    /// and a refusing one would deny a session the broker keeps.
    private enum EndAfterConnect {
        /// A packet behind the CONNECT could not be decoded.
        case failed(MQTTError)
        /// The broker or an operator closed it (a takeover: 0x8E; a revocation, an ended session: 0x98), with
        /// codes a CONNACK may not carry.
        case closed(ReasonCode, reason: String)
    }

    private var endAfterConnect: EndAfterConnect?
    /// How the connection ends for the broker: set by a DISCONNECT, otherwise the connection was lost.
    private var ending = Broker.Ending.lost
    /// The certificates the client connected with, until its CONNECT hands them to its session (for its will).
    private var credentials: [String] = []
    /// The deadline due next: for the CONNECT until it arrives (`startConnectDeadline`), then the keep-alive check
    /// (`startKeepAlive`) with the time without a packet that ends the connection.
    private var deadlineCheck: NIOScheduledCallback?
    private var keepAliveLimit = TimeAmount.zero
    private var lastPacket = NIODeadline.uptimeNanoseconds(0)
    /// Replies in the order their packets arrived; `nil` while the broker is still committing.
    private var replies = CircularBuffer<MQTTPacket??>(initialCapacity: 1)
    /// How many replies have left the front of `replies`.
    private var repliesWritten = 0
    /// Replies filled on other threads, waiting for this loop (`reserveReply`), and the loop's own list the task
    /// swaps them into: emptied with its room kept, so that neither list is made anew for each task.
    private typealias ArrivedReply = (slot: Int, result: Result<MQTTPacket?, any Error>)
    private let arrivedReplies = Mutex<[ArrivedReply]>([])
    private var takenReplies: [ArrivedReply] = []
    /// QoS 1 and 2 PUBLISHes from the client not yet answered with PUBACK or PUBCOMP (its Receive Maximum).
    private var unacknowledged: Set<UInt16> = []
    /// Topic aliases the client set (5.0), and those the hub set for it.
    private var inboundAliases: [UInt16: String] = [:]
    private var outboundAliases = ExactDictionary<UInt16>()
    /// QoS 0 messages of this burst not routed yet, and what authorizes its PUBLISHes
    /// (`Broker.publish(_:clientID:principal:publisher:reply:)`).
    private var publisher = Broker.Publisher()
    /// The outbound deliveries this burst's PUBACKs and PUBCOMPs ended, not handed to the broker yet.
    private var completed: [(packetID: UInt16, stage: InflightStage)] = []
    /// Bytes encoded since the last flush.
    private var outbound: ByteBuffer?
    /// True inside `channelRead`: replies wait for `channelReadComplete`, so a burst of packets costs one flush.
    private var reading = false
    /// A read the channel asked for and the handler held back (`read(context:)`), since when the channel has not
    /// been writable, and whether a keep-alive check has passed a held read on since the client's last packet.
    private var readHeld = false
    private var unwritableSince: NIODeadline?
    private var keepAliveProbed = false
    /// A flush task is queued (`flushSoon`).
    private var flushScheduled = false
    /// The hub is shutting down (`HubDraining`): see `drain(context:)`.
    private var draining = false
    /// Set while this connection waits in its loop's wake-up list (any thread sets it).
    private let wakePending = Atomic(false)
    private let wakeUps: WakeUps
    /// The session's messages wait in its queue while the channel is not writable (the client reads slower than
    /// it is sent to), so `mqtt.maximumQueued` bounds them as for any session that does not keep up; set when a
    /// wake-up found the channel full, and served when it drains.
    private var outgoingHeld = false

    /// Create one per channel, in its initializer: `eventLoop` is the channel's. Packets larger than
    /// `maximumPacketSize` bytes end the connection.
    public init(
        broker: Broker, eventLoop: any EventLoop, maximumPacketSize: Int,
        logger: Logger = Logger(label: "peacehub.mqtt")
    ) {
        self.broker = broker
        self.eventLoop = eventLoop
        self.wakeUps = broker.wakeUps(on: eventLoop)
        self.decoder = MQTTDecoder(maximumPacketSize: maximumPacketSize)
        self.logger = logger
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        stopDeadline()
        self.context = nil
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let identity as Principal:
            principal = identity
            startConnectDeadline()
        case let peer as PeerCredentials:
            credentials = peer.certificates
        case let revoked as CredentialRevoked:
            // A principal cut off says nothing more: its will, now or after its delay, would be a message from a
            // revoked certificate.
            ending = .disconnect(publishWill: false, sessionExpiryInterval: nil)
            end(.administrativeAction, context: context, reason: revoked.reason)
        case is HubDraining:
            drain(context: context)
        default:
            break
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if draining || endAfterConnect != nil { return }
        if case .closed = state { return }
        reading = true
        var bytes = unwrapInboundIn(data)
        var unfinished: ByteBuffer?
        do {
            // The keep-alive counts whole packets [MQTT-3.1.2-24]: bytes of one never finished do not keep a
            // connection (and its buffer) alive.
            var received = false
            if var earlier = partial {
                partial = nil  // one reference, so the bytes are appended in place
                // It takes only what its packet lacks, and the packets after that are decoded where they lie:
                // appending the whole read copied nearly every read once packets straddle reads (1 KiB ones do).
                var missing = MQTTDecoder.bytesMissing(in: earlier)
                while missing > 0, bytes.readableBytes > 0 {
                    var rest = bytes.readSlice(length: min(missing, bytes.readableBytes))!
                    earlier.writeBuffer(&rest)
                    missing = MQTTDecoder.bytesMissing(in: earlier)
                }
                try decodePackets(from: &earlier, received: &received, context: context)
                if earlier.readableBytes > 0 {
                    // The read ended first, or the connection stopped reading (then `bytes` still has the rest).
                    earlier.writeBuffer(&bytes)
                    unfinished = earlier
                }
            }
            if unfinished == nil {
                try decodePackets(from: &bytes, received: &received, context: context)
                if bytes.readableBytes > 0 { unfinished = Self.copied(bytes, allocator: context.channel.allocator) }
            }
        } catch {
            routeSetAside()
            completeSetAside()
            return failed(error, context: context)
        }
        routeSetAside()
        completeSetAside()
        if case .closed = state { return }
        partial = unfinished
    }

    /// Processes the packets `bytes` holds, up to one not whole yet, while the connection reads; `received` is set
    /// (and the keep-alive restarted) at the first.
    private func decodePackets(
        from bytes: inout ByteBuffer, received: inout Bool, context: ChannelHandlerContext
    ) throws {
        while !draining, let packet = try decoder.decode(buffer: &bytes) {
            if !received {
                received = true
                lastPacket = eventLoop.now
                keepAliveProbed = false
            }
            if case .closed = state { return }
            process(packet, context: context)
        }
    }

    /// The start of a packet a read ended in, copied out with room for the rest (up to 64 KiB): kept as a slice,
    /// it would hold the whole read's buffer, and appending to it would copy that buffer when a message still
    /// shares it.
    private static func copied(_ bytes: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        let whole = bytes.readableBytes + MQTTDecoder.bytesMissing(in: bytes)
        var copy = allocator.buffer(capacity: min(whole, max(bytes.readableBytes, 65_536)))
        copy.writeImmutableBuffer(bytes)
        return copy
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        reading = false
        flush(context)
        context.fireChannelReadComplete()
    }

    /// Holds the read back while the client leaves the answers unread; `channelWritabilityChanged` passes it on,
    /// and so does a keep-alive check, once, since the client's PINGREQs wait behind it (`handleScheduledCallback`).
    public func read(context: ChannelHandlerContext) {
        guard context.channel.isWritable else {
            readHeld = true
            return
        }
        context.read()
    }

    /// Takes the packet over (`consuming`, as `handle` does), so that `handle` binds a PUBLISH out of it without a
    /// copy, which would count its topic, payload and properties up and down again.
    private func process(_ packet: consuming MQTTPacket, context: ChannelHandlerContext) {
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
            handle(consume packet, clientID: clientID, context: context)
        case .closed:
            break
        }
    }

    // MARK: CONNECT

    private func handleConnect(_ connect: MQTTPacket.Connect, context: ChannelHandlerContext) {
        version = connect.version
        // From now on, even for a refusal or a protocol error before the CONNACK [MQTT-3.1.2-24].
        if version == .v5 {
            limits.maximumPacketSize = connect.properties.maximumPacketSize.map(Int.init)
            limits.problemInformation = connect.properties.requestProblemInformation != 0
        }
        guard let principal else {
            return refuse(.notAuthorized, context: context, reason: "CONNECT without a verified client certificate")
        }
        if version == .v5, let maximum = limits.maximumPacketSize {
            // Checked before the session is stored: a CONNACK the client cannot take would leave it waiting, with
            // a session it was never told of.
            let assigned = connect.clientID.isEmpty ? Broker.assignedClientID() : nil
            let connack = connackProperties(
                connect, assignedClientID: assigned, sessionExpiry: broker.loweredSessionExpiry(of: connect))
            var probe = ByteBuffer()
            MQTTPacket.connack(.init(sessionPresent: true, reasonCode: .success, properties: connack.properties))
                .write(to: &probe, version: .v5)
            if probe.readableBytes > maximum {
                return refuse(
                    .implementationSpecificError, context: context,
                    reason: "the CONNACK (\(probe.readableBytes) bytes) would exceed the client's Maximum Packet Size "
                        + "of \(maximum) bytes [MQTT-3.1.2-24]")
            }
        }
        stopDeadline()
        state = .connecting(waiting: [])
        let credentials = self.credentials
        self.credentials = []
        broker.connect(connect, principal: principal, credentials: credentials, connection: self) { result in
            if self.eventLoop.inEventLoop {
                self.connectAnswered(result, connect, principal: principal)
            } else {
                self.eventLoop.execute { self.connectAnswered(result, connect, principal: principal) }
            }
        }
    }

    /// The broker's answer to the CONNECT, on the event loop.
    private func connectAnswered(
        _ result: Result<Broker.ConnectOutcome, any Error>, _ connect: MQTTPacket.Connect, principal: Principal
    ) {
        guard let context, case .connecting(let waiting) = state else {
            // The connection closed while the broker stored its session, which is bound to this connection by
            // now: it ends as the connection did (lost: the will, the expiry, its place under the limits; revoked:
            // no will).
            if case .success(.accepted(let accepted)) = result {
                broker.disconnected(clientID: accepted.clientID, connection: self, ending: ending)
            }
            return
        }
        switch result {
        case .failure(let error):
            refuse(.serverUnavailable, context: context, reason: "the session could not be stored: \(error)")
        case .success(.refused(let code)):
            refuse(code, context: context, reason: "CONNECT refused with \(code)")
        case .success(.accepted(let accepted)):
            state = .connected(clientID: accepted.clientID)
            logger.info("client connected", metadata: [
                "client": "\(accepted.clientID)", "principal": "\(principal)", "mqtt": "\(connect.version)",
            ])
            let keepAlive = accept(connect, accepted, context: context)
            if case .closed(let code, let reason)? = endAfterConnect {
                // Ended by the hub meanwhile (revoked, taken over, its session ended): what the client sent behind
                // its CONNECT is not acted on (a revoked client's PUBLISH was routed, and its DISCONNECT 0x04 asked
                // for the will its revocation had discarded).
                return disconnect(code, context: context, reason: reason)
            }
            startKeepAlive(seconds: keepAlive, context: context)
            writeOutgoing(clientID: accepted.clientID)
            for packet in waiting { process(packet, context: context) }
            routeSetAside()
            completeSetAside()
            if case .failed(let error)? = endAfterConnect {
                endAfterConnect = nil
                return failed(error, context: context)
            }
            flush(context)
            closeIfDrained(context)
        }
    }

    /// Writes the CONNACK of an accepted CONNECT and notes what a 5.0 client asked for; returns the keep-alive
    /// in force.
    private func accept(_ connect: MQTTPacket.Connect, _ accepted: Broker.Accepted, context: ChannelHandlerContext)
        -> UInt16
    {
        guard version == .v5 else {
            write(.connack(.init(sessionPresent: accepted.sessionPresent, reasonCode: .success)), context)
            connackSent = true
            return connect.keepAlive
        }
        let configuration = broker.configuration
        limits.topicAliasMaximum = connect.properties.topicAliasMaximum ?? 0
        limits.sessionExpiryInterval = accepted.sessionExpiryInterval ?? connect.sessionExpiryInterval
        limits.hubReceiveMaximum = configuration.receiveMaximum
        limits.hubTopicAliasMaximum = configuration.topicAliasMaximum
        let (properties, keepAlive) = connackProperties(
            connect, assignedClientID: accepted.assignedClientID ? accepted.clientID : nil,
            sessionExpiry: accepted.sessionExpiryInterval)
        write(.connack(.init(sessionPresent: accepted.sessionPresent, reasonCode: .success, properties: properties)), context)
        connackSent = true
        return keepAlive
    }

    /// What the CONNACK of an accepted 5.0 CONNECT tells the client (the hub's limits, the id it assigned, the
    /// Session Expiry Interval when the hub lowered it), and the keep-alive in force.
    private func connackProperties(
        _ connect: MQTTPacket.Connect, assignedClientID: String?, sessionExpiry: UInt32?
    ) -> (properties: MQTTProperties, keepAlive: UInt16) {
        let configuration = broker.configuration
        var properties: MQTTProperties = []
        if configuration.receiveMaximum != .max {
            properties.items.append(.receiveMaximum(configuration.receiveMaximum))
        }
        properties.items.append(.maximumPacketSize(UInt32(clamping: configuration.maximumPacketSize)))
        if configuration.topicAliasMaximum > 0 {
            properties.items.append(.topicAliasMaximum(configuration.topicAliasMaximum))
        }
        if let assignedClientID { properties.items.append(.assignedClientIdentifier(assignedClientID)) }
        if let sessionExpiry { properties.items.append(.sessionExpiryInterval(sessionExpiry)) }
        var keepAlive = connect.keepAlive
        let maximum = configuration.maximumKeepAlive
        if maximum > 0, keepAlive == 0 || keepAlive > maximum {
            keepAlive = maximum
            properties.items.append(.serverKeepAlive(maximum))
        }
        return (properties, keepAlive)
    }

    /// Answers a CONNECT with a failure code (3.1.1: the matching return code), then closes.
    private func refuse(_ code: ReasonCode, context: ChannelHandlerContext, reason: String) {
        write(.connack(.init(sessionPresent: false, reasonCode: code)), context)
        connackSent = true
        reading = false
        flush(context)
        close(context, reason: reason)
    }

    // MARK: Packets

    private func handle(_ packet: consuming MQTTPacket, clientID: String, context: ChannelHandlerContext) {
        guard let principal else { return }
        // Whatever else the client sends comes after the QoS 0 messages it sent before.
        if !packet.isQoS0Publish { routeSetAside() }
        switch packet {
        case .puback, .pubcomp: break
        default: completeSetAside()
        }
        switch consume packet {
        case .connect:
            disconnect(.protocolError, context: context, reason: "a second CONNECT [MQTT-3.1.0-2]")
        case .publish(var publish):
            if version == .v5 {
                guard resolveAlias(&publish, context: context) else { return }
                if publish.qos != .atMostOnce, let id = publish.packetID, unacknowledged.insert(id).inserted,
                    unacknowledged.count > Int(limits.hubReceiveMaximum)
                {
                    return disconnect(
                        .receiveMaximumExceeded, context: context,
                        reason: "more than \(limits.hubReceiveMaximum) QoS 1 and 2 PUBLISHes unacknowledged")
                }
            }
            // A QoS 0 PUBLISH has no answer, so no place in the reply order.
            let reply = publish.qos == .atMostOnce ? Self.noReply : reserveReply()
            broker.publish(
                publish, clientID: clientID, connection: self, principal: principal, publisher: &publisher,
                reply: reply)
        case .pubrel(let ack):
            broker.release(packetID: ack.packetID, clientID: clientID, connection: self, reply: reserveReply())
        case .subscribe(let subscribe):
            broker.subscribe(
                subscribe, clientID: clientID, connection: self, principal: principal, reply: reserveReply())
        case .unsubscribe(let unsubscribe):
            broker.unsubscribe(unsubscribe, clientID: clientID, connection: self, reply: reserveReply())
        case .pingreq:
            reserveReply()(.success(.pingresp))
        case .puback(let ack):
            // Answered by nothing, so no place in the reply order; handed over with the read's others.
            completed.append((ack.packetID, .awaitingPuback))
        case .pubcomp(let ack):
            completed.append((ack.packetID, .awaitingPubcomp))
        case .pubrec(let ack):
            broker.acknowledge(ack, clientID: clientID, connection: self, reply: reserveReply())
        case .disconnect(let disconnect):
            let interval = disconnect.properties.sessionExpiryInterval
            if let interval, interval != 0, limits.sessionExpiryInterval == 0 {
                // The will goes out: this is not a normal disconnection.
                return self.disconnect(
                    .protocolError, context: context,
                    reason: "DISCONNECT sets a Session Expiry Interval on a session that had 0 [MQTT-3.14.2-2]")
            }
            // Only a normal disconnection (0x00; every 3.1.1 DISCONNECT) discards the will [MQTT-3.14.4-3]: 0x04 asks
            // for it, and a client that leaves with an error code (0x80...) has not ended normally either.
            ending = .disconnect(publishWill: disconnect.reasonCode != .success, sessionExpiryInterval: interval)
            close(context, reason: "client disconnected (\(disconnect.reasonCode))")
        case .auth:
            disconnect(.protocolError, context: context, reason: "AUTH without an authentication method [MQTT-4.12.0-1]")
        case .connack, .suback, .unsuback, .pingresp:
            disconnect(.protocolError, context: context, reason: "a client sent a packet only servers send")
        }
    }

    /// Applies a 5.0 PUBLISH's Topic Alias: sets it, or replaces the empty topic with the topic it stands for.
    /// Returns false when the connection was closed for a bad alias.
    private func resolveAlias(_ publish: inout MQTTPacket.Publish, context: ChannelHandlerContext) -> Bool {
        guard let alias = publish.properties.topicAlias else { return true }
        let maximum = limits.hubTopicAliasMaximum
        guard alias > 0, alias <= maximum else {
            let allowed = maximum == 0 ? "the hub allows no Topic Alias" : "not in 1...\(maximum)"
            disconnect(
                .topicAliasInvalid, context: context, reason: "Topic Alias \(alias): \(allowed) [MQTT-3.3.2-9]")
            return false
        }
        if publish.topic.isEmpty {
            guard let topic = inboundAliases[alias] else {
                disconnect(.protocolError, context: context, reason: "Topic Alias \(alias) was never set on this connection")
                return false
            }
            publish.topic = topic
        } else {
            inboundAliases[alias] = publish.topic
        }
        publish.properties.remove(MQTTProperty.topicAlias(0).identifier)
        return true
    }

    /// What a QoS 0 PUBLISH, a PUBACK and a PUBCOMP are answered with: nothing (the store logs its own failures).
    private static let noReply: Broker.Reply = { _ in }

    /// Takes the next place in the reply order; the returned closure fills it from any thread. A reply from
    /// another thread (a subscriber's event loop, where its acknowledgement sends the PUBACK, or the store's) waits
    /// in `arrivedReplies` for one task that fills all that came meanwhile.
    private func reserveReply() -> Broker.Reply {
        replies.append(nil)
        let slot = replies.count - 1 + repliesWritten
        return { result in
            guard !self.eventLoop.inEventLoop else { return self.fill(slot, with: result) }
            let first = self.arrivedReplies.withLock { arrived in
                arrived.append((slot, result))
                return arrived.count == 1
            }
            guard first else { return }
            self.eventLoop.execute {
                self.arrivedReplies.withLock { swap(&$0, &self.takenReplies) }
                for (slot, result) in self.takenReplies { self.fill(slot, with: result) }
                self.takenReplies.removeAll(keepingCapacity: true)
            }
        }
    }

    private func fill(_ slot: Int, with result: Result<MQTTPacket?, any Error>) {
        guard let context else { return }
        switch result {
        case .failure(let error as SessionTakenOver):
            end(.sessionTakenOver, context: context, reason: error.description)
        case .failure(let error):
            close(context, reason: "the store failed: \(error)")
        case .success(let packet):
            replies[replies.index(replies.startIndex, offsetBy: slot - repliesWritten)] = .some(packet)
            writeReadyReplies(context: context)
        }
    }

    private func writeReadyReplies(context: ChannelHandlerContext) {
        var wrote = false
        while let first = replies.first, let ready = first {
            replies.removeFirst()
            repliesWritten += 1
            if let packet = ready {
                write(packet, context)
                wrote = true
            }
        }
        if wrote { flushSoon(context) }
        closeIfDrained(context)
    }

    /// Writes what the broker has for this session, then flushes (QoS 2 deliveries may follow once the store has
    /// committed them).
    private func writeOutgoing(clientID: String) {
        guard let turn = outgoingTurn(clientID: clientID) else { return }
        broker.outgoing([turn])
    }

    /// This connection's turn at its session's messages, taken by its loop's wake-up task (`WakeUps`) with the
    /// other connections it woke; nil when it takes none now.
    func wokenTurn() -> Broker.OutgoingTurn? {
        wakePending.store(false, ordering: .releasing)
        guard context != nil, !draining, case .connected(let clientID) = state else { return nil }
        return outgoingTurn(clientID: clientID)
    }

    private func outgoingTurn(clientID: String) -> Broker.OutgoingTurn? {
        guard context?.channel.isWritable != false else {
            outgoingHeld = true
            return nil
        }
        // Read on this loop, which owns the alias table, before `outgoing` returns; only where sizes are checked
        // (a closure over the handler is an allocation per turn).
        let aliases =
            limits.maximumPacketSize == nil || limits.topicAliasMaximum == 0
            ? OutboundTopicAliases.none
            : OutboundTopicAliases(
                isSet: { self.outboundAliases[$0] != nil },
                left: max(Int(limits.topicAliasMaximum) - outboundAliases.count, 0))
        // The broker hands the turn over at once, and a turn is only taken on this loop (here, or by the loop's
        // wake-up task).
        return Broker.OutgoingTurn(clientID: clientID, connection: self, aliases: aliases) { outgoing in
            guard !outgoing.isEmpty, let context = self.context else { return }
            let now = self.broker.clock()
            for item in outgoing { self.write(item, at: now, context) }
            self.flushSoon(context)
        }
    }

    // MARK: Writing

    /// Encodes what the broker has for this session at `now` (milliseconds since 1970). A delivery, the most of
    /// what is written, is encoded straight from its message, with the message's properties for 5.0; a 5.0 one
    /// with Subscription Identifiers, an expiry to count down or a topic alias to take becomes a PUBLISH with
    /// the properties and topic alias of this client. The broker has measured both against the client's Maximum
    /// Packet Size.
    private func write(_ outgoing: Broker.Outgoing, at now: Int64, _ context: ChannelHandlerContext) {
        switch outgoing {
        case .pubrel(let id):
            write(.pubrel(packetID: id), context)
        case .encoded(var bytes):
            if outbound == nil {
                outbound = bytes
            } else {
                outbound!.writeBuffer(&bytes)
            }
        case .publish(let delivery, let packetID, let duplicate)
        where version != .v5
            || (delivery.subscriptionIdentifiers.isEmpty && delivery.message.expiresAt == nil
                && limits.topicAliasMaximum == 0):
            let message = delivery.message
            if outbound == nil { outbound = context.channel.allocator.buffer(capacity: 256) }
            outbound!.writePublish(
                topic: message.topic, payload: message.payload, qos: message.qos, retain: message.retain,
                duplicate: duplicate, packetID: packetID, properties: version == .v5 ? message.properties : nil)
        case .publish(let delivery, let packetID, let duplicate):
            let publish = Broker.packet(delivery, packetID: packetID, duplicate: duplicate, version: version, at: now)
            write(.publish(publish), context)
        }
    }

    /// Encodes a packet into the bytes waiting for the next flush, fitted to what the client asked for.
    private func write(_ packet: MQTTPacket, _ context: ChannelHandlerContext) {
        switch packet {
        case .puback(let ack), .pubcomp(let ack):
            unacknowledged.remove(ack.packetID)
        case .pubrec(let ack) where ack.reasonCode.isFailure:
            unacknowledged.remove(ack.packetID)
        default:
            break
        }
        if outbound == nil { outbound = context.channel.allocator.buffer(capacity: 256) }
        guard version == .v5 else { return packet.write(to: &outbound!, version: version) }
        if case .publish(var publish) = packet, limits.topicAliasMaximum > 0 {
            assignAlias(&publish)
            if let maximum = limits.maximumPacketSize, publish.encodedSize(version: .v5) > maximum {
                return discard(publish)
            }
            return MQTTPacket.publish(publish).write(to: &outbound!, version: version)
        }
        fitted(packet)?.write(to: &outbound!, version: version)
    }

    /// Routes the QoS 0 messages set aside so far (one broker lock for a read's burst) and ends the burst.
    private func routeSetAside() {
        broker.route(&publisher)
    }

    /// Hands the broker the PUBACKs and PUBCOMPs set aside so far, before any other packet and at the end of each
    /// read: one broker lock, and one wake-up for what their window slots let go (`Broker.complete`).
    private func completeSetAside() {
        guard !completed.isEmpty else { return }
        if case .connected(let clientID) = state { broker.complete(completed, clientID: clientID, connection: self) }
        completed.removeAll(keepingCapacity: true)
    }

    /// Flushes once the tasks already queued on the event loop have run, so acknowledgements that complete
    /// together (one store commit) and deliveries woken together leave in one write; within a read burst its end
    /// flushes.
    private func flushSoon(_ context: ChannelHandlerContext) {
        guard !reading, !flushScheduled else { return }
        flushScheduled = true
        eventLoop.execute {
            self.flushScheduled = false
            if let context = self.context { self.flush(context) }
        }
    }

    /// Writes the encoded bytes out, unless a read burst is in progress (its end flushes).
    private func flush(_ context: ChannelHandlerContext) {
        guard !reading, let bytes = outbound, bytes.readableBytes > 0 else { return }
        outbound = nil
        context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
    }

    /// Ends the flow of a PUBLISH too large for the client's Maximum Packet Size without sending it, as if
    /// delivered [MQTT-3.1.2-25], as the client's acknowledgement would end it (a refusing PUBREC for QoS 2). The
    /// broker measured it by the alias its topic was to have, which the table, filled by QoS 0 messages on other
    /// topics while it waited for its commit, could no longer give.
    private func discard(_ publish: MQTTPacket.Publish) {
        guard let id = publish.packetID, case .connected(let clientID) = state else { return }
        let stage: InflightStage = publish.qos == .atLeastOnce ? .awaitingPuback : .awaitingPubrec
        broker.complete([(id, stage)], clientID: clientID, connection: self)
    }

    /// Gives a PUBLISH's topic an alias while the client allows more: the first PUBLISH on a topic sets it, later
    /// ones send the alias with an empty topic. The alias property takes three bytes, more than a short topic
    /// saves: a PUBLISH the alias would make larger than the client's Maximum Packet Size goes without it (the
    /// broker checked it fits so) [MQTT-3.1.2-24].
    private func assignAlias(_ publish: inout MQTTPacket.Publish) {
        let known = outboundAliases[publish.topic]
        let alias: UInt16
        if let known {
            alias = known
        } else if outboundAliases.count < Int(limits.topicAliasMaximum) {
            alias = UInt16(outboundAliases.count + 1)
        } else {
            return
        }
        var aliased = publish
        if known != nil { aliased.topic = "" }
        aliased.properties.set(.topicAlias(alias))
        if let maximum = limits.maximumPacketSize, aliased.encodedSize(version: .v5) > maximum { return }
        outboundAliases[publish.topic] = alias
        publish = aliased
    }

    /// Leaves out the Reason String and User Properties a client did not ask for (Request Problem Information 0,
    /// except on CONNACK and DISCONNECT) or that would make a packet larger than its Maximum Packet Size
    /// [MQTT-3.1.2-29, MQTT-3.1.2-25]. PUBLISH sizes were checked by the broker.
    private func fitted(_ packet: MQTTPacket) -> MQTTPacket? {
        switch packet {
        case .publish:
            return packet
        case .connack, .disconnect:
            break
        default:
            if !limits.problemInformation { return packet.withoutDiagnostics }
        }
        guard let maximum = limits.maximumPacketSize else { return packet }
        func fits(_ packet: MQTTPacket) -> Bool {
            var probe = ByteBuffer()
            packet.write(to: &probe, version: .v5)
            return probe.readableBytes <= maximum
        }
        if fits(packet) { return packet }
        // A limit of a few bytes that not even the bare packet fits: it is not sent [MQTT-3.1.2-24].
        let bare = packet.withoutDiagnostics
        return fits(bare) ? bare : nil
    }

    // MARK: Closing

    /// Ends the connection because of the client: a 5.0 client is told why, with a DISCONNECT after CONNACK or a
    /// failing CONNACK before it [MQTT-4.13.1-1].
    private func disconnect(_ code: ReasonCode, context: ChannelHandlerContext, reason: String, explains: Bool = true) {
        if version == .v5, isOpen {
            let properties: MQTTProperties = explains ? [.reason(reason)] : []
            write(
                connackSent
                    ? .disconnect(.init(reasonCode: code, properties: properties))
                    : .connack(.init(sessionPresent: false, reasonCode: code, properties: properties)), context)
            connackSent = true
        }
        close(context, reason: reason)
    }

    /// Ends the connection from the hub's side: at once, or, while its CONNECT is being stored, after the CONNACK.
    private func end(_ code: ReasonCode, context: ChannelHandlerContext, reason: String) {
        if case .connecting = state {
            endAfterConnect = .closed(code, reason: reason)
        } else {
            disconnect(code, context: context, reason: reason)
        }
    }

    private var isOpen: Bool {
        if case .closed = state { return false }
        return true
    }

    private func close(_ context: ChannelHandlerContext, reason: String) {
        // Once: a slow consumer is told to go by every message that finds its queue full until the close is done.
        guard isOpen else { return }
        logger.debug("closing MQTT connection", metadata: ["reason": "\(reason)"])
        // What is already encoded goes first: the CONNACK of a CONNECT stored while a DISCONNECT or a bad packet
        // came behind it [MQTT-3.2.0-1], the replies to the packets before it.
        reading = false
        flush(context)
        if case .connected(let clientID) = state {
            broker.disconnected(clientID: clientID, connection: self, ending: ending)
        }
        state = .closed
        context.close(promise: nil)
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        unwritableSince = context.channel.isWritable ? nil : unwritableSince ?? eventLoop.now
        if context.channel.isWritable, outgoingHeld, !draining, case .connected(let clientID) = state {
            outgoingHeld = false
            writeOutgoing(clientID: clientID)
        }
        if readHeld, context.channel.isWritable {
            readHeld = false
            context.read()
        }
        context.fireChannelWritabilityChanged()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        if case .connected(let clientID) = state {
            broker.disconnected(clientID: clientID, connection: self, ending: ending)
        }
        state = .closed
        stopDeadline()
        context.fireChannelInactive()
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failed(error, context: context)
    }

    /// Ends the connection after a malformed packet (what the specification asks for each) or a failure below.
    private func failed(_ error: any Error, context: ChannelHandlerContext) {
        if case .closed = state { return }
        guard let error = error as? MQTTError else { return close(context, reason: "\(error)") }
        if case .connecting = state {
            // The CONNECT was valid, and the broker is storing its session: a failing CONNACK would deny a
            // session the hub keeps (and a will it publishes). Its CONNACK first, then this error's DISCONNECT.
            endAfterConnect = .failed(error)
            return
        }
        if case .awaitingConnect = state, error.code == .unsupportedProtocolLevel {
            // A level the hub does not speak: the 3.1.1 CONNACK 0x01 [MQTT-3.1.2-2].
            version = .v3_1_1
            return refuse(.unsupportedProtocolVersion, context: context, reason: "\(error)")
        }
        if let known = error.version { version = known }
        var explains = true
        switch error.connectLimit {
        case .bytes(let limit): limits.maximumPacketSize = limit
        // Its limit is unknown: the smallest CONNACK, without a Reason String.
        case .unknown: explains = false
        case .notGiven, nil: break
        }
        // After CONNECT, any CONNECT is a Protocol Error [MQTT-3.1.0-2], whatever its name or level: 0x84 is a
        // CONNACK code, not a DISCONNECT one [MQTT-3.14.2-1].
        var code = error.code.reasonCode
        if connackSent, code == .unsupportedProtocolVersion { code = .protocolError }
        disconnect(code, context: context, reason: "\(error)", explains: explains)
    }

    /// The TLS handshake is done: the client has `connectTimeout` to send its CONNECT (the standard: a server
    /// should close a connection that sends none within a reasonable time).
    private func startConnectDeadline() {
        guard case .awaitingConnect = state else { return }
        let timeout = broker.configuration.connectTimeout
        checkDeadline(at: eventLoop.now + .nanoseconds(Int64(timeout.wholeNanoseconds)))
    }

    /// Closes the connection when no packet arrives within one and a half keep-alive periods [MQTT-3.1.2-24]. One
    /// callback waits for the deadline the last packet set and, when packets came meanwhile, for the next one: no
    /// ticking task per connection (with thousands of idle contingents, its memory and wake-ups add up).
    private func startKeepAlive(seconds: UInt16, context: ChannelHandlerContext) {
        guard seconds > 0 else { return }
        keepAliveLimit = .milliseconds(Int64(seconds) * 1500)
        checkDeadline(at: lastPacket + keepAliveLimit)
    }

    private func checkDeadline(at deadline: NIODeadline) {
        deadlineCheck = try? eventLoop.scheduleCallback(at: deadline, handler: self)
    }

    private func stopDeadline() {
        deadlineCheck?.cancel()
        deadlineCheck = nil
    }

    // MARK: BrokerConnection (any thread)

    /// Many messages for this client between two turns of its event loop cost one place in the loop's wake-up
    /// list and one write: a wake-up already pending covers the ones that follow (its turn reads the queue after
    /// clearing the flag). The loop's one task takes the turns of every connection woken meanwhile (`WakeUps`).
    public func wakeUp() {
        guard wakePending.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else { return }
        wakeUps.add(self)
    }

    public func close(_ code: ReasonCode, reason: String) {
        eventLoop.execute {
            guard let context = self.context else { return }
            self.end(code, context: context, reason: reason)
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

    /// Closes a draining connection once no reply is outstanding and no CONNECT is being stored; an MQTT 5
    /// client is told why (DISCONNECT 0x8B).
    private func closeIfDrained(_ context: ChannelHandlerContext) {
        guard draining, replies.isEmpty, isOpen else { return }
        if case .connecting = state { return }
        disconnect(.serverShuttingDown, context: context, reason: "the hub is shutting down")
    }
}

extension MQTTConnectionHandler: NIOScheduledCallbackHandler {
    /// A deadline came: with no CONNECT yet (`startConnectDeadline`), the connection ends; once connected
    /// (`startKeepAlive`), it ends too, or waits for the deadline of the packet that arrived since.
    public func handleScheduledCallback(eventLoop: some EventLoop) {
        deadlineCheck = nil
        guard let context else { return }
        switch state {
        case .awaitingConnect:
            close(context, reason: "no CONNECT within \(broker.configuration.connectTimeout) of the TLS handshake")
        case .connected:
            let deadline = lastPacket + keepAliveLimit
            guard eventLoop.now >= deadline else { return checkDeadline(at: deadline) }
            // The hub holds its bytes back while it leaves the answers unread, and a client on a slow link that
            // reads a large message for longer than its keep-alive has sent its PINGREQs all the same: a held read
            // is passed on once, and what it brings counts. One whose socket stays full for four keep-alives
            // is not reading at all.
            if readHeld, !keepAliveProbed, let since = unwritableSince,
                eventLoop.now - since < .nanoseconds(keepAliveLimit.nanoseconds * 4)
            {
                keepAliveProbed = true
                readHeld = false
                context.read()
                return checkDeadline(at: eventLoop.now + .seconds(1))
            }
            disconnect(.keepAliveTimeout, context: context, reason: "keep-alive expired")
        case .connecting, .closed:
            break
        }
    }
}
