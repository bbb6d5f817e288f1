import Foundation
import NIOCore
import PeaceHubCore
import Synchronization

/// The MQTT 3.1.1 broker's shared state: sessions, subscriptions and retained messages.
///
/// Connections call in from their event loops; every call runs under one lock and returns the
/// packets the caller must write, so the broker never writes to a channel itself. Messages for
/// other sessions are queued there and their connections are woken to fetch them.
public final class Broker: Sendable {
    public struct Configuration: Sendable {
        /// Outbound QoS 1 and 2 messages a client may have unacknowledged at once.
        public var maximumInflight: Int
        /// Messages queued per session beyond those in flight; see `docs/protocol.md` for what
        /// happens when the queue is full.
        public var maximumQueued: Int

        public init(maximumInflight: Int = 32, maximumQueued: Int = 1000) {
            self.maximumInflight = maximumInflight
            self.maximumQueued = maximumQueued
        }
    }

    /// The answer to a CONNECT.
    public enum ConnectOutcome: Sendable, Equatable {
        case accepted(sessionPresent: Bool, clientID: String)
        case refused(MQTTPacket.ConnectReturnCode)
    }

    struct State {
        var sessions: [String: Session] = [:]
        var subscriptions = SubscriptionTree<String, QoS>()
        var retained: [String: BrokerMessage] = [:]
    }

    public let configuration: Configuration
    private let authorizer: any MQTTAuthorizer
    private let state = Mutex(State())

    public init(configuration: Configuration = Configuration(), authorizer: any MQTTAuthorizer) {
        self.configuration = configuration
        self.authorizer = authorizer
    }

    // MARK: Connections

    /// Binds a connection to a session after its CONNECT. A session bound to another principal
    /// is refused; a live connection of the same client is closed (takeover) [MQTT-3.1.4-2].
    public func connect(_ packet: MQTTPacket.Connect, principal: Principal, connection: any BrokerConnection)
        -> ConnectOutcome
    {
        var clientID = packet.clientID
        if clientID.isEmpty {
            // A client may leave the id to the server only for a clean session [MQTT-3.1.3-8].
            guard packet.cleanSession else { return .refused(.identifierRejected) }
            clientID = "peacehub-" + UUID().uuidString.lowercased()
        }
        let (outcome, replaced) = state.withLock { state -> (ConnectOutcome, (any BrokerConnection)?) in
            if let existing = state.sessions[clientID], existing.owner != principal {
                return (.refused(.notAuthorized), nil)
            }
            let previous = state.sessions[clientID]
            let replaced = previous?.connection
            var sessionPresent = false
            let session: Session
            if let previous, !packet.cleanSession, previous.persistent {
                session = previous
                sessionPresent = true
            } else {
                if let previous { drop(previous, from: &state) }
                session = Session(clientID: clientID, owner: principal, persistent: !packet.cleanSession)
                state.sessions[clientID] = session
            }
            session.persistent = !packet.cleanSession
            session.will = packet.will
            session.connection = connection
            session.resendInflight = true
            return (.accepted(sessionPresent: sessionPresent, clientID: clientID), replaced)
        }
        replaced?.close(reason: "session taken over by a new connection with client id \(clientID)")
        return outcome
    }

    /// The connection ended. Without a DISCONNECT first (`graceful` false) the will is
    /// published; a clean session ends with its connection.
    public func disconnected(clientID: String, connection: any BrokerConnection, graceful: Bool) {
        let will: (MQTTPacket.Will, Principal)? = state.withLock { state in
            guard let session = state.sessions[clientID], session.connection === connection else { return nil }
            session.connection = nil
            let will = graceful ? nil : session.will.map { ($0, session.owner) }
            session.will = nil
            if !session.persistent { drop(session, from: &state) }
            return will
        }
        if let (will, owner) = will, authorizer.mayPublish(owner, topic: will.topic) {
            route(BrokerMessage(
                topic: will.topic, payload: ByteBuffer(bytes: will.payload), qos: will.qos, retain: will.retain,
                publisher: owner))
        }
    }

    /// Forgets a session's subscriptions and state (the lock is held).
    private func drop(_ session: Session, from state: inout State) {
        state.subscriptions.removeAll(of: session.clientID)
        state.sessions[session.clientID] = nil
    }

    // MARK: Inbound

    /// Handles a PUBLISH from a client and returns the acknowledgement to write, if any.
    /// A publication the principal may not make is dropped, acknowledged as QoS requires, and
    /// reported on the sender's notices topic.
    public func publish(_ publish: MQTTPacket.Publish, clientID: String, principal: Principal) -> MQTTPacket? {
        let acknowledgement: MQTTPacket?
        switch (publish.qos, publish.packetID) {
        case (.atLeastOnce, let id?): acknowledgement = .puback(packetID: id)
        case (.exactlyOnce, let id?):
            acknowledgement = .pubrec(packetID: id)
            // A resent QoS 2 PUBLISH whose PUBREL has not come yet is not delivered again.
            let isNew = state.withLock { state in
                state.sessions[clientID]?.inboundQoS2.insert(id).inserted ?? false
            }
            guard isNew else { return acknowledgement }
        default: acknowledgement = nil
        }
        guard authorizer.mayPublish(principal, topic: publish.topic) else {
            notify(principal, event: "publish-refused", topic: publish.topic, reason: "not authorized to publish on this topic")
            return acknowledgement
        }
        let message = BrokerMessage(
            topic: publish.topic, payload: publish.payload, qos: publish.qos, retain: publish.retain,
            precedence: Precedence.of(payload: publish.payload), publisher: principal)
        if publish.retain { retain(message) }
        route(message)
        return acknowledgement
    }

    /// PUBREL for an inbound QoS 2 message: the packet id may be reused; answer PUBCOMP.
    public func release(packetID: UInt16, clientID: String) -> MQTTPacket {
        state.withLock { state in _ = state.sessions[clientID]?.inboundQoS2.remove(packetID) }
        return .pubcomp(packetID: packetID)
    }

    /// PUBACK, PUBREC or PUBCOMP for an outbound message; returns PUBREL for a PUBREC.
    public func acknowledge(_ packet: MQTTPacket, clientID: String) -> MQTTPacket? {
        let (reply, wake) = state.withLock { state -> (MQTTPacket?, (any BrokerConnection)?) in
            guard let session = state.sessions[clientID] else { return (nil, nil) }
            switch packet {
            case .puback(let id):
                guard session.inflight[id]?.stage == .awaitingPuback else { return (nil, nil) }
                session.removeInflight(id)
                return (nil, session.connection)
            case .pubrec(let id):
                guard let inflight = session.inflight[id] else { return (.pubrel(packetID: id), nil) }
                if inflight.stage == .awaitingPubrec { session.inflight[id]?.stage = .awaitingPubcomp }
                return (.pubrel(packetID: id), nil)
            case .pubcomp(let id):
                guard session.inflight[id]?.stage == .awaitingPubcomp else { return (nil, nil) }
                session.removeInflight(id)
                return (nil, session.connection)
            default:
                return (nil, nil)
            }
        }
        // A freed window slot may let a queued message go.
        wake?.wakeUp()
        return reply
    }

    /// Handles a SUBSCRIBE: grants each valid, authorised filter at its requested QoS and queues
    /// the retained messages it matches [MQTT-3.3.1-6].
    public func subscribe(_ packet: MQTTPacket.Subscribe, clientID: String, principal: Principal) -> MQTTPacket {
        var codes: [MQTTPacket.SubscribeReturnCode] = []
        var granted: [(String, QoS)] = []
        for (filter, qos) in packet.subscriptions {
            guard TopicFilter.isValid(filter), authorizer.maySubscribe(principal, filter: filter) else {
                codes.append(.failure)
                continue
            }
            codes.append(.granted(qos))
            granted.append((filter, qos))
        }
        let wake = state.withLock { state -> (any BrokerConnection)? in
            guard let session = state.sessions[clientID] else { return nil }
            for (filter, qos) in granted {
                state.subscriptions.insert(filter, subscriber: clientID, options: qos)
                session.subscriptions[filter] = qos
                for (topic, message) in state.retained where TopicFilter.matches(filter, topic: topic) {
                    var copy = message
                    copy.qos = min(message.qos, qos)
                    copy.retain = true
                    session.enqueue(copy)
                }
            }
            return session.connection
        }
        wake?.wakeUp()
        return .suback(MQTTPacket.SubAck(packetID: packet.packetID, returnCodes: codes))
    }

    public func unsubscribe(_ packet: MQTTPacket.Unsubscribe, clientID: String) -> MQTTPacket {
        state.withLock { state in
            guard let session = state.sessions[clientID] else { return }
            for filter in packet.filters {
                state.subscriptions.remove(filter, subscriber: clientID)
                session.subscriptions[filter] = nil
            }
        }
        return .unsuback(packetID: packet.packetID)
    }

    // MARK: Outbound

    /// The packets to write to `clientID` now: first what was in flight when the client
    /// reconnected (PUBLISH with DUP, or PUBREL), then queued messages while the in-flight
    /// window has room.
    public func outgoing(clientID: String) -> [MQTTPacket] {
        state.withLock { state in
            guard let session = state.sessions[clientID] else { return [] }
            var packets: [MQTTPacket] = []
            if session.resendInflight {
                session.resendInflight = false
                for id in session.inflightOrder {
                    guard let inflight = session.inflight[id] else { continue }
                    switch inflight.stage {
                    case .awaitingPubcomp: packets.append(.pubrel(packetID: id))
                    case .awaitingPuback, .awaitingPubrec:
                        packets.append(.publish(Self.packet(inflight.message, packetID: id, duplicate: true)))
                    }
                }
            }
            while let message = session.dequeueIfRoom(window: configuration.maximumInflight) {
                if message.qos == .atMostOnce {
                    packets.append(.publish(Self.packet(message, packetID: nil, duplicate: false)))
                    continue
                }
                let id = session.nextPacketID()
                session.inflight[id] = Session.Inflight(
                    message: message, stage: message.qos == .atLeastOnce ? .awaitingPuback : .awaitingPubrec)
                session.inflightOrder.append(id)
                packets.append(.publish(Self.packet(message, packetID: id, duplicate: false)))
            }
            return packets
        }
    }

    private static func packet(_ message: BrokerMessage, packetID: UInt16?, duplicate: Bool) -> MQTTPacket.Publish {
        MQTTPacket.Publish(
            topic: message.topic, payload: message.payload, qos: message.qos, retain: message.retain,
            duplicate: duplicate, packetID: packetID)
    }

    // MARK: Routing

    /// Delivers `message` to every matching session at the highest QoS among its matching
    /// subscriptions, capped by the message's own [MQTT-3.3.5-1]. Forwarded copies carry
    /// retain = 0 [MQTT-3.3.1-9].
    public func route(_ message: BrokerMessage) {
        var forwarded = message
        forwarded.retain = false
        let (wake, overflowed) = state.withLock { state -> ([any BrokerConnection], [String]) in
            var best: [String: QoS] = [:]
            for match in state.subscriptions.matches(message.topic) {
                best[match.subscriber] = max(best[match.subscriber] ?? .atMostOnce, match.options)
            }
            var connections: [any BrokerConnection] = []
            var overflowed: [String] = []
            for (clientID, qos) in best {
                guard let session = state.sessions[clientID] else { continue }
                var copy = forwarded
                copy.qos = min(message.qos, qos)
                // QoS 0 messages are not kept for sessions that are offline.
                if session.connection == nil, copy.qos == .atMostOnce { continue }
                if session.pendingCount >= configuration.maximumQueued {
                    // The new message is refused, never an older one dropped silently.
                    if copy.qos != .atMostOnce { overflowed.append(clientID) }
                    continue
                }
                session.enqueue(copy)
                if let connection = session.connection { connections.append(connection) }
            }
            return (connections, overflowed)
        }
        for connection in wake { connection.wakeUp() }
        if let publisher = message.publisher {
            for clientID in overflowed {
                notify(publisher, event: "queue-full", topic: message.topic, reason: "the queue of client \(clientID) is full")
            }
        }
    }

    private func retain(_ message: BrokerMessage) {
        state.withLock { state in
            // An empty payload clears the retained message [MQTT-3.3.1-10, MQTT-3.3.1-11].
            state.retained[message.topic] = message.payload.readableBytes == 0 ? nil : message
        }
    }

    /// Publishes a notice from the hub on `contingents/<C>/notices` of a contingent principal.
    private func notify(_ principal: Principal, event: String, topic: String, reason: String) {
        guard case .contingent(let code) = principal else { return }
        let notice: JSONValue = ["event": .string(event), "topic": .string(topic), "reason": .string(reason)]
        route(BrokerMessage(
            topic: "contingents/\(code)/notices", payload: ByteBuffer(bytes: notice.jsonData), qos: .atLeastOnce,
            precedence: .priority))
    }
}

extension Session {
    /// The next queued message, if the in-flight window has room for it (QoS 0 needs none).
    func dequeueIfRoom(window: Int) -> BrokerMessage? {
        inflight.count < window ? dequeue() : nil
    }
}
