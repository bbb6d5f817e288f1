import NIOCore
import PeaceHubMQTT
import PeaceHubTLS
import Synchronization

/// The protocol a server speaks.
enum Wire: String, Sendable, Codable {
    /// MQTT 3.1.1 (the hub, mosquitto).
    case mqtt
    /// MQTT 5.0 (the hub, mosquitto): the same flows, with no properties sent, and the server's Receive Maximum
    /// kept by QoS 1 publishers, as a 5.0 client must [MQTT-3.3.4-7].
    case mqtt5
    /// The NATS text protocol: the server sends INFO in plain text, then TLS starts.
    case nats

    /// The MQTT version spoken, nil for NATS.
    var mqttVersion: MQTTVersion? {
        switch self {
        case .mqtt: .v3_1_1
        case .mqtt5: .v5
        case .nats: nil
        }
    }
}

/// The measurement window of a run, shared by every connection: only what is sent or received inside it counts.
final class RunWindow: Sendable {
    private let start = Atomic<UInt64>(.max)
    private let end = Atomic<UInt64>(.max)

    func set(start: UInt64, end: UInt64) {
        self.start.store(start, ordering: .relaxed)
        self.end.store(end, ordering: .relaxed)
    }

    @inline(__always)
    func contains(_ time: UInt64) -> Bool {
        time >= start.load(ordering: .relaxed) && time < end.load(ordering: .relaxed)
    }
}

/// End-to-end flow control for saturation runs, one per subscriber: the publishers of its topic may have at most
/// `limit` messages outstanding to it (sent but not yet received). Without it, publishers outrun a slower server by
/// the size of the loopback socket buffers (megabytes), and the backlog outlives the run. Counted per subscriber, so
/// that no subscriber's queue in a server grows past `limit` while the others drain.
///
/// A publisher held back is woken when the outstanding messages fall a few batches below the limit, by the
/// subscriber's event loop that counts them. A timer alone (a look every millisecond) capped every server at the
/// same rate: `limit` deliveries per millisecond and a bit, whatever the server could do.
final class FlowControl: Sendable {
    let limit: Int
    private let outstanding = Atomic(0)
    private let lastDelivery = Atomic<UInt64>(0)
    /// Set while `waiting` holds publishers to wake; read for every delivery, so the lock is taken only then.
    private let hasWaiting = Atomic(false)
    private let waiting = Mutex<[@Sendable () -> Void]>([])

    init(limit: Int) {
        self.limit = limit
    }

    /// Wake-ups come when a few batches fit again (`PublishPlan.batch` is 16): the window stays nearly full.
    private var wakeAt: Int { limit - min(64, limit / 2) }

    @inline(__always)
    var hasRoom: Bool { outstanding.load(ordering: .relaxed) < limit }

    @inline(__always)
    func sent(_ deliveries: Int) { outstanding.add(deliveries, ordering: .relaxed) }

    @inline(__always)
    func delivered(at time: UInt64) {
        let left = outstanding.subtract(1, ordering: .relaxed).newValue
        lastDelivery.store(time, ordering: .relaxed)
        if left <= wakeAt, hasWaiting.load(ordering: .relaxed) { wakeWaiting() }
    }

    /// Calls `wake` (once) when the outstanding messages have fallen to `wakeAt`; at once if they already have.
    func waitForRoom(_ wake: @escaping @Sendable () -> Void) {
        waiting.withLock { waiting in
            waiting.append(wake)
            hasWaiting.store(true, ordering: .relaxed)
        }
        if outstanding.load(ordering: .relaxed) <= wakeAt { wakeWaiting() }
    }

    private func wakeWaiting() {
        let woken = waiting.withLock { waiting -> [@Sendable () -> Void] in
            hasWaiting.store(false, ordering: .relaxed)
            defer { waiting.removeAll() }
            return waiting
        }
        for wake in woken { wake() }
    }

    /// Forgets what is outstanding when nothing arrived for a second: the server dropped those deliveries, and
    /// they would otherwise hold the publishers back forever.
    func resetIfStalled(now: UInt64) {
        let last = lastDelivery.load(ordering: .relaxed)
        if last > 0 && now > last + 1_000_000_000 { outstanding.store(0, ordering: .relaxed) }
    }
}

/// What one publisher sends. The payload is a template: the send time is written into it, as 8 little-endian bytes
/// after a first byte 0 for binary payloads, or as 16 hex digits after "@@" for JSON payloads (reports).
struct PublishPlan: Sendable {
    var topic: String
    var payload: [UInt8]
    var qos: Int
    /// QoS 1 messages a publisher may have unacknowledged.
    var window = 64
    /// Messages per second for this publisher; nil sends as fast as the connection takes them.
    var rate: Double?
    /// Messages encoded into one buffer and written with one flush.
    var batch = 16
    /// Stop after this many messages.
    var limit = Int.max
    /// Saturation runs: those of the topic's subscribers; the publisher holds back while any of them is full.
    var flows: [FlowControl] = []
}

/// Counters and latencies of one connection, touched only on its event loop.
struct ConnectionStats: Sendable {
    var publishedTotal = 0
    var publishedInWindow = 0
    var acknowledged = 0
    /// MQTT 5 PUBACKs with a failure reason code (e.g. 0x97, Quota exceeded): counted in `acknowledged` too.
    var refused = 0
    /// When the PUBACK of a limited plan's last message came, and the last delivery (`monotonicNanoseconds`; 0
    /// before them).
    var allAcknowledgedAt: UInt64 = 0
    var lastReceivedAt: UInt64 = 0
    var receivedTotal = 0
    var receivedInWindow = 0
    /// QoS 1 PUBLISHes a publisher may have unacknowledged: the plan's, or the server's smaller Receive Maximum.
    var publishWindow = 0
    var histogram = Histogram()

    mutating func merge(_ other: ConnectionStats) {
        publishedTotal += other.publishedTotal
        publishedInWindow += other.publishedInWindow
        acknowledged += other.acknowledged
        refused += other.refused
        allAcknowledgedAt = max(allAcknowledgedAt, other.allAcknowledgedAt)
        lastReceivedAt = max(lastReceivedAt, other.lastReceivedAt)
        receivedTotal += other.receivedTotal
        receivedInWindow += other.receivedInWindow
        publishWindow = max(publishWindow, other.publishWindow)
        histogram.merge(other.histogram)
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// One load-generator connection, MQTT or NATS, over `TLSHandler`. It parses only what it needs straight from the
/// plaintext buffers (no packet values per message), encodes PUBLISH/PUB from a template into one buffer per
/// batch, and answers PUBACK/PONG with one flush per read burst.
final class LoadHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let wire: Wire
    private let tls: TLSContext
    private let clientID: String
    private let cleanSession: Bool
    private let runWindow: RunWindow
    /// Where a subscriber reports each delivery (saturation runs).
    private let flow: FlowControl?
    private let ready: EventLoopPromise<Void>
    private var context: ChannelHandlerContext?
    private var connected = false
    private var awaitingInfo: Bool
    /// SUBACK, UNSUBACK (MQTT) or PONG (NATS) answers awaited, in order.
    private var replies = CircularBuffer<EventLoopPromise<Void>>()
    private var leftover: ByteBuffer?
    /// Reads CONNACK, SUBACK and UNSUBACK (once per connection or subscription), for either MQTT version.
    private var controlDecoder: MQTTDecoder?
    private var outgoing: ByteBuffer?
    private(set) var stats = ConnectionStats()

    // Publishing.
    private var plan: PublishPlan?
    /// QoS 1 PUBLISHes the server takes unacknowledged: its Receive Maximum (5.0), else the plan's window.
    private var serverReceiveMaximum = Int.max
    private var template: [UInt8] = []
    private var packetIDOffset = -1
    private var stampOffset = 0
    private var stampIsHex = false
    private var publishing = false
    private var inflight = 0
    private var nextPacketID: UInt16 = 0
    private var paceStart: UInt64 = 0
    private var paceSent = 0
    private var paceTask: Scheduled<Void>?
    private var fillScheduled = false
    /// The flow control will wake this publisher when its window has room (`FlowControl.waitForRoom`).
    private var waitingForRoom = false

    init(
        wire: Wire, tls: TLSContext, clientID: String, cleanSession: Bool, runWindow: RunWindow, flow: FlowControl?,
        ready: EventLoopPromise<Void>
    ) {
        self.wire = wire
        self.flow = flow
        self.tls = tls
        self.clientID = clientID
        self.cleanSession = cleanSession
        self.runWindow = runWindow
        self.ready = ready
        self.awaitingInfo = wire == .nats
        if let version = wire.mqttVersion {
            controlDecoder = MQTTDecoder(maximumPacketSize: 1 << 20, role: .client, version: version)
        }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is TLSPeerIdentity else { return context.fireUserInboundEventTriggered(event) }
        var buffer = context.channel.allocator.buffer(capacity: 256)
        switch wire.mqttVersion {
        case let version?:
            // 60 s, the keep-alive of mosquitto_sub and paho-mqtt: what a server keeps per idle client includes its
            // keep-alive timer. No connection of a run lives the 90 s after which a silent client is closed. A 5.0
            // session outlives its connection only with an expiry interval; five minutes outlast any run.
            let properties: MQTTProperties = version == .v5 && !cleanSession ? [.sessionExpiryInterval(300)] : []
            let connect = MQTTPacket.Connect(
                version: version, clientID: clientID, cleanStart: cleanSession, keepAlive: 60, properties: properties)
            MQTTPacket.connect(connect).write(to: &buffer, version: version)
        case nil:
            buffer.writeString(
                #"CONNECT {"verbose":false,"pedantic":false,"tls_required":true,"name":"\#(clientID)","#
                    + #""lang":"swift","version":"1","protocol":1,"echo":false}"# + "\r\nPING\r\n")
        }
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        let error = BenchError("connection \(clientID) closed")
        ready.fail(error)
        while let reply = replies.popFirst() { reply.fail(error) }
        publishing = false
        paceTask?.cancel()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        ready.fail(error)
        context.close(promise: nil)
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if var pending = leftover {
            leftover = nil
            pending.writeBuffer(&incoming)
            incoming = pending
        }
        if wire == .nats { parseNATS(&incoming, context: context) } else { parseMQTT(&incoming, context: context) }
        if incoming.readableBytes > 0 { leftover = incoming }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if let buffer = outgoing {
            outgoing = nil
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        }
        if publishing && plan?.rate == nil { fill(context: context) }
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable && publishing && plan?.rate == nil { fill(context: context) }
        context.fireChannelWritabilityChanged()
    }

    private func parseMQTT(_ buffer: inout ByteBuffer, context: ChannelHandlerContext) {
        while buffer.readableBytes >= 2 {
            let start = buffer.readerIndex
            var remaining = 0
            var multiplier = 1
            var headerLength = 1
            var complete = false
            while headerLength <= 4, let byte = buffer.getInteger(at: start + headerLength, as: UInt8.self) {
                remaining += Int(byte & 0x7f) * multiplier
                multiplier *= 128
                headerLength += 1
                if byte & 0x80 == 0 {
                    complete = true
                    break
                }
            }
            guard complete, buffer.readableBytes >= headerLength + remaining else { return }
            let first = buffer.getInteger(at: start, as: UInt8.self)!
            let body = start + headerLength
            switch first >> 4 {
            case 3:  // PUBLISH
                let qos = (first >> 1) & 3
                let topicLength = Int(buffer.getInteger(at: body, endianness: .big, as: UInt16.self) ?? 0)
                var payload = body + 2 + topicLength
                if qos > 0 {
                    let id = buffer.getInteger(at: payload, endianness: .big, as: UInt16.self) ?? 0
                    payload += 2
                    var ack = outgoing ?? context.channel.allocator.buffer(capacity: 256)
                    ack.writeInteger(UInt16(0x4002), endianness: .big)
                    ack.writeInteger(id, endianness: .big)
                    outgoing = ack
                }
                if wire == .mqtt5 { payload = Self.skipProperties(buffer, at: payload) }
                received(buffer, payload: payload, length: body + remaining - payload)
            case 4:  // PUBACK
                inflight -= 1
                stats.acknowledged += 1
                // One clock read per plan, not per PUBACK.
                if stats.acknowledged == plan?.limit { stats.allAcknowledgedAt = monotonicNanoseconds() }
                // A 5.0 PUBACK longer than its packet id carries a reason code.
                if wire == .mqtt5, remaining >= 3, let code = buffer.getInteger(at: body + 2, as: UInt8.self),
                    code >= 0x80
                {
                    stats.refused += 1
                }
            case 2, 9, 11:  // CONNACK, SUBACK, UNSUBACK
                control(buffer.getSlice(at: start, length: headerLength + remaining)!)
            default:
                break
            }
            buffer.moveReaderIndex(forwardBy: headerLength + remaining)
        }
    }

    /// A CONNACK, SUBACK or UNSUBACK, through the hub's decoder: these come once per connection or subscription.
    private func control(_ packet: ByteBuffer) {
        var packet = packet
        let decoded: MQTTPacket?
        do {
            decoded = try controlDecoder?.decode(buffer: &packet)
        } catch {
            ready.fail(error)
            replies.popFirst()?.fail(error)
            return
        }
        switch decoded {
        case .connack(let connack)?:
            if connack.reasonCode.isFailure {
                ready.fail(BenchError("CONNACK refused \(clientID): \(connack.reasonCode.rawValue)"))
            } else {
                serverReceiveMaximum = connack.properties.receiveMaximum.map(Int.init) ?? .max
                connected = true
                ready.succeed()
            }
        case .suback(let suback)?:
            if suback.reasonCodes.contains(where: { $0.isFailure }) {
                replies.popFirst()?.fail(BenchError("subscription refused for \(clientID)"))
            } else {
                replies.popFirst()?.succeed()
            }
        case .unsuback?:
            replies.popFirst()?.succeed()
        default:
            break
        }
    }

    /// Where a 5.0 PUBLISH's payload starts: after its properties, whose length starts at `offset`.
    @inline(__always)
    private static func skipProperties(_ buffer: ByteBuffer, at offset: Int) -> Int {
        var length = 0
        var shift = 0
        var index = offset
        while let byte = buffer.getInteger(at: index, as: UInt8.self) {
            index += 1
            length |= Int(byte & 0x7f) << shift
            shift += 7
            if byte & 0x80 == 0 || shift > 21 { break }
        }
        return index + length
    }

    private func parseNATS(_ buffer: inout ByteBuffer, context: ChannelHandlerContext) {
        while let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            let start = buffer.readerIndex
            let lineEnd = newline + 1
            let first = buffer.getInteger(at: start, as: UInt8.self)!
            if first == UInt8(ascii: "M") {  // MSG <subject> <sid> [reply-to] <#bytes>\r\n<payload>\r\n
                var space = newline - 1
                while space > start, buffer.getInteger(at: space, as: UInt8.self) != UInt8(ascii: " ") { space -= 1 }
                var length = 0
                for index in (space + 1)..<(newline - 1) {
                    length = length * 10 + Int(buffer.getInteger(at: index, as: UInt8.self)! &- UInt8(ascii: "0"))
                }
                guard buffer.writerIndex >= lineEnd + length + 2 else { return }
                received(buffer, payload: lineEnd, length: length)
                buffer.moveReaderIndex(to: lineEnd + length + 2)
                continue
            }
            buffer.moveReaderIndex(to: lineEnd)
            switch first {
            case UInt8(ascii: "P") where buffer.getInteger(at: start + 1, as: UInt8.self) == UInt8(ascii: "I"):  // PING
                var pong = outgoing ?? context.channel.allocator.buffer(capacity: 64)
                pong.writeStaticString("PONG\r\n")
                outgoing = pong
            case UInt8(ascii: "P"):  // PONG
                if !connected {
                    connected = true
                    ready.succeed()
                } else if let reply = replies.popFirst() {
                    reply.succeed()
                }
            case UInt8(ascii: "I") where awaitingInfo:  // INFO: the server is ready for the TLS handshake
                awaitingInfo = false
                do {
                    try context.pipeline.syncOperations.addHandler(
                        try TLSHandler(context: tls, serverHostname: "localhost", logger: quietLogger), position: .first)
                } catch {
                    ready.fail(error)
                    context.close(promise: nil)
                }
            case UInt8(ascii: "-"):
                let text = buffer.getString(at: start, length: lineEnd - start) ?? "-ERR"
                ready.fail(BenchError("NATS \(clientID): \(text)"))
                if let reply = replies.popFirst() { reply.fail(BenchError(text)) }
            default:
                break
            }
        }
    }

    /// Counts a delivered message and records its latency from the send time in its payload.
    @inline(__always)
    private func received(_ buffer: ByteBuffer, payload: Int, length: Int) {
        let now = monotonicNanoseconds()
        stats.receivedTotal += 1
        stats.lastReceivedAt = now
        flow?.delivered(at: now)
        guard runWindow.contains(now) else { return }
        stats.receivedInWindow += 1
        var sent: UInt64?
        if length >= 9, buffer.getInteger(at: payload, as: UInt8.self) == UInt8(ascii: "{") {
            sent = Self.hexStamp(buffer, from: payload, length: length)
        } else if length >= 9 {
            sent = buffer.getInteger(at: payload + 1, endianness: .little, as: UInt64.self)
        }
        if let sent, sent <= now { stats.histogram.record(now - sent) }
    }

    /// The 16 hex digits after "@@" in a JSON payload.
    private static func hexStamp(_ buffer: ByteBuffer, from start: Int, length: Int) -> UInt64? {
        let view = buffer.readableBytesView
        let base = view.startIndex - buffer.readerIndex
        var index = start
        let end = start + length - 17
        while index < end {
            if view[base + index] == UInt8(ascii: "@"), view[base + index + 1] == UInt8(ascii: "@") {
                var value: UInt64 = 0
                for offset in 2..<18 {
                    let digit = view[base + index + offset]
                    value = value << 4 | UInt64(digit <= UInt8(ascii: "9") ? digit &- 48 : digit &- 87)
                }
                return value
            }
            index += 1
        }
        return nil
    }

    // MARK: Requests (on the event loop)

    func subscribe(topic: String, qos: Int) -> EventLoopFuture<Void> {
        guard let context else { return ready.futureResult.eventLoop.makeFailedFuture(BenchError("not connected")) }
        let reply = context.eventLoop.makePromise(of: Void.self)
        replies.append(reply)
        var buffer = context.channel.allocator.buffer(capacity: 128)
        switch wire.mqttVersion {
        case let version?:
            MQTTPacket.subscribe(.init(packetID: 1, subscriptions: [(topic, QoS(rawValue: UInt8(qos)) ?? .atMostOnce)]))
                .write(to: &buffer, version: version)
        case nil:
            buffer.writeString("SUB \(topic) 1\r\nPING\r\n")
        }
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        return reply.futureResult
    }

    /// Sends DISCONNECT (MQTT) and closes.
    func disconnect() -> EventLoopFuture<Void> {
        guard let context else { return ready.futureResult.eventLoop.makeSucceededVoidFuture() }
        stopPublishing()
        if wire != .nats && connected {
            var buffer = context.channel.allocator.buffer(capacity: 2)
            buffer.writeInteger(UInt16(0xE000), endianness: .big)
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        }
        let closed = context.eventLoop.makePromise(of: Void.self)
        context.close(promise: closed)
        return closed.futureResult
    }

    func startPublishing(_ plan: PublishPlan) {
        guard let context else { return }
        var plan = plan
        plan.window = min(plan.window, serverReceiveMaximum)
        self.plan = plan
        if plan.qos > 0 { stats.publishWindow = plan.window }
        var frame: [UInt8] = []
        let topic = Array(plan.topic.utf8)
        switch wire {
        case .mqtt, .mqtt5:
            // A 5.0 PUBLISH has a property length, 0, before its payload.
            let properties = wire == .mqtt5 ? 1 : 0
            frame.append(UInt8(0x30 | (plan.qos << 1)))
            var remaining = 2 + topic.count + (plan.qos > 0 ? 2 : 0) + properties + plan.payload.count
            repeat {
                var byte = UInt8(remaining % 128)
                remaining /= 128
                if remaining > 0 { byte |= 0x80 }
                frame.append(byte)
            } while remaining > 0
            frame += [UInt8(topic.count >> 8), UInt8(topic.count & 0xff)] + topic
            if plan.qos > 0 {
                packetIDOffset = frame.count
                frame += [0, 0]
            }
            if properties > 0 { frame.append(0) }
        case .nats:
            frame += Array("PUB \(plan.topic) \(plan.payload.count)\r\n".utf8)
        }
        let payloadOffset = frame.count
        frame += plan.payload
        if wire == .nats { frame += [13, 10] }
        if plan.payload.first == UInt8(ascii: "{"),
            let marker = (0..<(plan.payload.count - 17)).first(where: { plan.payload[$0] == 64 && plan.payload[$0 + 1] == 64 })
        {
            stampIsHex = true
            stampOffset = payloadOffset + marker + 2
        } else {
            stampIsHex = false
            stampOffset = payloadOffset + 1
        }
        template = frame
        publishing = true
        if let rate = plan.rate {
            paceStart = monotonicNanoseconds()
            paceSent = 0
            pace(rate: rate)
        } else {
            fill(context: context)
        }
    }

    func stopPublishing() {
        publishing = false
        paceTask?.cancel()
        paceTask = nil
    }

    /// As fast as the connection takes them: batches while the channel is writable (and the QoS 1 window has
    /// room), yielding to the event loop after a few batches.
    private func fill(context: ChannelHandlerContext) {
        guard let plan, publishing else { return }
        var batches = 0
        var full: FlowControl?
        while publishing && context.channel.isWritable && batches < 8 {
            full = plan.flows.first { !$0.hasRoom }
            if full != nil { break }
            let room = min(
                plan.qos == 0 ? plan.batch : min(plan.batch, plan.window - inflight), plan.limit - stats.publishedTotal)
            guard room > 0 else { break }
            write(count: room, stamp: nil, context: context)
            for flow in plan.flows { flow.sent(room) }
            batches += 1
        }
        if let full {
            // The subscribers are on other channels: the full one's loop wakes this one when it has room again, and
            // a look every millisecond covers a server that dropped what was outstanding.
            full.resetIfStalled(now: monotonicNanoseconds())
            if !waitingForRoom {
                waitingForRoom = true
                let loop = context.eventLoop
                full.waitForRoom { [self] in
                    loop.execute { [self] in
                        waitingForRoom = false
                        if let context = self.context { fill(context: context) }
                    }
                }
            }
            if !fillScheduled {
                fillScheduled = true
                context.eventLoop.scheduleTask(in: .milliseconds(1)) { [self] in
                    fillScheduled = false
                    if let context = self.context { fill(context: context) }
                }
            }
        }
        guard batches > 0 else { return }
        context.flush()
        if batches == 8 && !fillScheduled {
            fillScheduled = true
            context.eventLoop.execute { [self] in
                fillScheduled = false
                if let context = self.context { fill(context: context) }
            }
        }
    }

    /// At a fixed rate: the messages due by now (message k at k / rate), each stamped with its intended send time
    /// (so a stalled sender cannot hide latency: no coordinated omission), then a timer for the next one's time.
    /// A fixed tick would hold each message until the tick (with a millisecond's tick, 0.5 ms on average, the same
    /// for every server), and that wait, not the server, would make most of the latency measured.
    private func pace(rate: Double) {
        guard let context, let plan, publishing else { return }
        let now = monotonicNanoseconds()
        let due = Int(Double(now - paceStart) * rate / 1e9) + 1 - paceSent
        let room = min(plan.qos == 0 ? due : min(due, plan.window - inflight), plan.limit - stats.publishedTotal)
        if room > 0 {
            write(count: room, stamp: (paceStart, rate), context: context)
            context.flush()
        }
        guard stats.publishedTotal < plan.limit else { return }
        // The next message's time; when behind (a full QoS 1 window), look again in 100 µs.
        let next = paceStart + UInt64(Double(paceSent) * 1e9 / rate)
        let later = monotonicNanoseconds()
        let delay = next > later ? Int64(next - later) : 100_000
        paceTask = context.eventLoop.scheduleTask(in: .nanoseconds(delay)) { [self] in pace(rate: rate) }
    }

    private func write(count: Int, stamp pacing: (start: UInt64, rate: Double)?, context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: count * template.count)
        for _ in 0..<count {
            let base = buffer.writerIndex
            buffer.writeBytes(template)
            if packetIDOffset >= 0 {
                nextPacketID = nextPacketID == .max ? 1 : nextPacketID + 1
                buffer.setInteger(nextPacketID, at: base + packetIDOffset, endianness: .big)
                inflight += 1
            }
            let now = monotonicNanoseconds()
            let stamp = pacing.map { $0.start + UInt64(Double(paceSent) * 1e9 / $0.rate) } ?? now
            paceSent += 1
            if stampIsHex {
                for index in 0..<16 {
                    let nibble = UInt8((stamp >> UInt64(60 - index * 4)) & 0xf)
                    buffer.setInteger(nibble < 10 ? nibble + 48 : nibble + 87, at: base + stampOffset + index)
                }
            } else {
                buffer.setInteger(stamp, at: base + stampOffset, endianness: .little)
            }
            stats.publishedTotal += 1
            if runWindow.contains(now) { stats.publishedInWindow += 1 }
        }
        context.write(wrapOutboundOut(buffer), promise: nil)
    }
}
