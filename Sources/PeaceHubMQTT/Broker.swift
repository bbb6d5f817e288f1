import Foundation
import Logging
import NIOCore
import PeaceHubCore
import Synchronization

/// The MQTT 3.1.1 broker's shared state: sessions, subscriptions and retained messages.
///
/// Connections call in from their event loops; every call runs under one lock and hands the
/// packets to write to a reply closure, so the broker never writes to a channel itself.
/// Messages for other sessions are queued there and their connections are woken to fetch them.
///
/// With a `BrokerStore`, every change to a persistent session or a retained message is
/// committed before the packet that caused it is acknowledged, and a routed QoS 1 or 2 message
/// reaches its subscribers' queues only once it is durable: an acknowledged message survives a
/// crash, and a QoS 2 message is never delivered twice.
public final class Broker: Sendable {
    public struct Configuration: Sendable {
        /// Outbound QoS 1 and 2 messages a client may have unacknowledged at once.
        public var maximumInflight: Int
        /// Messages queued per session beyond those in flight; when full, a new QoS 1 or 2
        /// message for that session is refused and its publisher notified (`docs/protocol.md`).
        public var maximumQueued: Int
        /// Connected clients in all; one more is refused with CONNACK 3 (server unavailable).
        public var maximumConnections: Int
        /// Connected clients of one contingent or operator; one more is refused the same way.
        public var maximumConnectionsPerPrincipal: Int

        public init(
            maximumInflight: Int = 32, maximumQueued: Int = 1000, maximumConnections: Int = 10_000,
            maximumConnectionsPerPrincipal: Int = 200
        ) {
            self.maximumInflight = maximumInflight
            self.maximumQueued = maximumQueued
            self.maximumConnections = maximumConnections
            self.maximumConnectionsPerPrincipal = maximumConnectionsPerPrincipal
        }
    }

    /// The answer to a CONNECT.
    public enum ConnectOutcome: Sendable, Equatable {
        case accepted(sessionPresent: Bool, clientID: String)
        case refused(MQTTPacket.ConnectReturnCode)
    }

    /// What a reply closure receives: the packet to write, or the store failed and the
    /// connection must close without acknowledging.
    public typealias Reply = @Sendable (Result<MQTTPacket?, any Error>) -> Void

    struct State {
        var sessions: [String: Session] = [:]
        var subscriptions = SubscriptionTree<String, QoS>()
        var retained: [String: BrokerMessage] = [:]
        /// Live connections, in all and by principal (a takeover changes neither).
        var connections = 0
        var connectionsByPrincipal: [Principal: Int] = [:]
        var lastSequence: UInt64 = 0
        var lastMessageID: UInt64 = 0

        mutating func nextSequence() -> UInt64 {
            lastSequence += 1
            return lastSequence
        }

        mutating func nextMessageID() -> UInt64 {
            lastMessageID += 1
            return lastMessageID
        }
    }

    /// What the broker refused or set aside since it started (exported as metrics by the server).
    public struct Counters: Sendable, Equatable {
        /// QoS 1 or 2 messages not queued for a session whose queue was full.
        public var queueFull: Int
        /// PUBLISHes dropped because the principal may not publish on the topic.
        public var publishesRefused: Int
        /// Reports a mission module rejected.
        public var reportsRejected: Int
        /// Reports held because their module failed, was too slow or is missing.
        public var reportsHeld: Int
    }

    private let queueFull = Atomic(0)
    private let publishesRefused = Atomic(0)
    private let reportsRejected = Atomic(0)
    private let reportsHeld = Atomic(0)

    public var counters: Counters {
        Counters(
            queueFull: queueFull.load(ordering: .relaxed), publishesRefused: publishesRefused.load(ordering: .relaxed),
            reportsRejected: reportsRejected.load(ordering: .relaxed), reportsHeld: reportsHeld.load(ordering: .relaxed))
    }

    public let configuration: Configuration
    private let authorizer: any MQTTAuthorizer
    private let interceptor: (any PublishInterceptor)?
    private let store: (any BrokerStore)?
    private let logger: Logger
    private let state: Mutex<State>

    /// Creates a broker, restoring the persistent sessions and retained messages from `store`
    /// (without a store everything lives in memory).
    public init(
        configuration: Configuration = Configuration(), authorizer: any MQTTAuthorizer,
        interceptor: (any PublishInterceptor)? = nil, store: (any BrokerStore)? = nil,
        logger: Logger = Logger(label: "peacehub.mqtt")
    ) throws {
        self.configuration = configuration
        self.authorizer = authorizer
        self.interceptor = interceptor
        self.store = store
        self.logger = logger
        var initial = State()
        if let stored = try store?.load() {
            initial.lastSequence = stored.lastSequence
            initial.lastMessageID = stored.lastMessageID
            initial.retained = stored.retained
            for saved in stored.sessions {
                let session = Session(clientID: saved.clientID, owner: saved.owner, persistent: true)
                session.inboundQoS2 = saved.inboundQoS2
                for (filter, qos) in saved.subscriptions {
                    session.subscriptions[filter] = qos
                    initial.subscriptions.insert(filter, subscriber: saved.clientID, options: qos)
                }
                for delivery in saved.deliveries {
                    let item = Session.Delivery(sequence: delivery.sequence, messageID: delivery.messageID, message: delivery.message)
                    if let packetID = delivery.packetID, let stage = delivery.stage {
                        session.inflight[packetID] = Session.Inflight(delivery: item, stage: stage)
                        session.inflightOrder.append(packetID)
                    } else {
                        session.enqueue(item)
                    }
                }
                initial.sessions[saved.clientID] = session
            }
        }
        state = Mutex(initial)
    }

    /// Runs `then` once `operations` are durable (at once when there is nothing to store).
    private func commit(_ operations: [StoreOperation], then: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        guard let store, !operations.isEmpty else { return then(.success(())) }
        store.commit(operations) { [logger] result in
            if case .failure(let error) = result { logger.error("broker store commit failed", metadata: ["error": "\(error)"]) }
            then(result)
        }
    }

    // MARK: Connections

    /// Binds a connection to a session after its CONNECT. A session bound to another principal
    /// is refused; a live connection of the same client is closed (takeover) [MQTT-3.1.4-2].
    public func connect(
        _ packet: MQTTPacket.Connect, principal: Principal, connection: any BrokerConnection,
        reply: @escaping @Sendable (Result<ConnectOutcome, any Error>) -> Void
    ) {
        var clientID = packet.clientID
        if clientID.isEmpty {
            // A client may leave the id to the server only for a clean session [MQTT-3.1.3-8].
            guard packet.cleanSession else { return reply(.success(.refused(.identifierRejected))) }
            clientID = "peacehub-" + UUID().uuidString.lowercased()
        }
        let persistent = !packet.cleanSession
        let (outcome, replaced, operations) = state.withLock {
            state -> (ConnectOutcome, (any BrokerConnection)?, [StoreOperation]) in
            let previous = state.sessions[clientID]
            if let previous, previous.owner != principal { return (.refused(.notAuthorized), nil, []) }
            if previous?.connection == nil {
                guard state.connections < configuration.maximumConnections,
                    state.connectionsByPrincipal[principal, default: 0] < configuration.maximumConnectionsPerPrincipal
                else { return (.refused(.serverUnavailable), nil, []) }
                state.connections += 1
                state.connectionsByPrincipal[principal, default: 0] += 1
            }
            var operations: [StoreOperation] = []
            let session: Session
            if let previous, persistent, previous.persistent {
                session = previous
            } else {
                if let previous { drop(previous, from: &state, operations: &operations) }
                session = Session(clientID: clientID, owner: principal, persistent: persistent)
                state.sessions[clientID] = session
                if persistent { operations.append(.createSession(clientID: clientID, owner: principal)) }
            }
            let replaced = previous?.connection
            session.will = packet.will
            session.connection = connection
            session.resendInflight = true
            return (.accepted(sessionPresent: session === previous, clientID: clientID), replaced, operations)
        }
        replaced?.close(reason: "session taken over by a new connection with client id \(clientID)")
        commit(operations) { result in reply(result.map { outcome }) }
    }

    /// The connection ended. Without a DISCONNECT first (`graceful` false) the will is
    /// published; a clean session ends with its connection.
    public func disconnected(clientID: String, connection: any BrokerConnection, graceful: Bool) {
        let will: (MQTTPacket.Will, Principal)? = state.withLock { state in
            guard let session = state.sessions[clientID], session.connection === connection else { return nil }
            session.connection = nil
            state.connections -= 1
            state.connectionsByPrincipal[session.owner, default: 1] -= 1
            if state.connectionsByPrincipal[session.owner] == 0 { state.connectionsByPrincipal[session.owner] = nil }
            let will = graceful ? nil : session.will.map { ($0, session.owner) }
            session.will = nil
            if !session.persistent {
                var none: [StoreOperation] = []
                drop(session, from: &state, operations: &none)
            }
            return will
        }
        if let (will, owner) = will, authorizer.mayPublish(owner, topic: will.topic) {
            let message = BrokerMessage(
                topic: will.topic, payload: ByteBuffer(bytes: will.payload), qos: will.qos, retain: will.retain,
                publisher: owner)
            accept(message) { _ in }
        }
    }

    /// Forgets a session (the lock is held).
    private func drop(_ session: Session, from state: inout State, operations: inout [StoreOperation]) {
        state.subscriptions.removeAll(of: session.clientID)
        state.sessions[session.clientID] = nil
        if session.persistent { operations.append(.deleteSession(clientID: session.clientID)) }
    }

    // MARK: Inbound

    /// Handles a PUBLISH from a client; `reply` gets the acknowledgement once what it promises
    /// is durable. A publication the principal may not make is dropped, acknowledged as QoS
    /// requires, and reported on the sender's notices topic.
    public func publish(_ publish: MQTTPacket.Publish, clientID: String, principal: Principal, reply: @escaping Reply) {
        let acknowledgement: MQTTPacket?
        var operations: [StoreOperation] = []
        switch (publish.qos, publish.packetID) {
        case (.atLeastOnce, let id?):
            acknowledgement = .puback(packetID: id)
        case (.exactlyOnce, let id?):
            acknowledgement = .pubrec(packetID: id)
            // A resent QoS 2 PUBLISH whose PUBREL has not come yet is not delivered again.
            let (isNew, persistent) = state.withLock { state -> (Bool, Bool) in
                guard let session = state.sessions[clientID] else { return (false, false) }
                return (session.inboundQoS2.insert(id).inserted, session.persistent)
            }
            guard isNew else { return reply(.success(acknowledgement)) }
            if persistent { operations.append(.addInboundQoS2(clientID: clientID, packetID: id)) }
        default:
            acknowledgement = nil
        }
        guard authorizer.mayPublish(principal, topic: publish.topic) else {
            publishesRefused.add(1, ordering: .relaxed)
            notify(principal, event: "publish-refused", topic: publish.topic, reason: "not authorized to publish on this topic")
            return commit(operations) { result in reply(result.map { acknowledgement }) }
        }
        let message = BrokerMessage(
            topic: publish.topic, payload: publish.payload, qos: publish.qos, retain: publish.retain,
            precedence: Precedence.of(payload: publish.payload), publisher: principal)
        guard let interceptor, interceptor.claims(topic: publish.topic) else {
            return accept(message, operations: operations) { result in reply(result.map { acknowledgement }) }
        }
        interceptor.intercept(message, principal: principal) { [self, operations] decision in
            switch decision {
            case .deliver(let judged):
                accept(judged, operations: operations) { result in reply(result.map { acknowledgement }) }
            case .reject(let code, let reason):
                reportsRejected.add(1, ordering: .relaxed)
                notify(principal, event: "report-rejected", topic: publish.topic, reason: reason, code: code)
                commit(operations) { result in reply(result.map { acknowledgement }) }
            case .hold(let reason):
                reportsHeld.add(1, ordering: .relaxed)
                notify(principal, event: "report-held", topic: publish.topic, reason: reason)
                commit(operations) { result in reply(result.map { acknowledgement }) }
            }
        }
    }

    /// PUBREL for an inbound QoS 2 message: once the packet id is free again, PUBCOMP.
    public func release(packetID: UInt16, clientID: String, reply: @escaping Reply) {
        let persistent = state.withLock { state -> Bool in
            guard let session = state.sessions[clientID] else { return false }
            session.inboundQoS2.remove(packetID)
            return session.persistent
        }
        let operations: [StoreOperation] = persistent ? [.removeInboundQoS2(clientID: clientID, packetID: packetID)] : []
        commit(operations) { result in reply(result.map { .pubcomp(packetID: packetID) }) }
    }

    /// PUBACK, PUBREC or PUBCOMP for an outbound message. A PUBREC is answered with PUBREL only
    /// once the new stage is durable: after a crash the hub then resends PUBREL, never the
    /// PUBLISH the client has already released (no QoS 2 duplicate).
    public func acknowledge(_ packet: MQTTPacket, clientID: String, reply: @escaping Reply) {
        let (answer, wake, operations) = state.withLock {
            state -> (MQTTPacket?, (any BrokerConnection)?, [StoreOperation]) in
            guard let session = state.sessions[clientID] else { return (nil, nil, []) }
            func finish(_ id: UInt16, expecting stage: InflightStage) -> [StoreOperation] {
                guard let inflight = session.inflight[id], inflight.stage == stage else { return [] }
                session.removeInflight(id)
                return session.persistent && store != nil
                    ? [.removeDelivery(clientID: clientID, sequence: inflight.delivery.sequence)] : []
            }
            switch packet {
            case .puback(let id):
                return (nil, session.connection, finish(id, expecting: .awaitingPuback))
            case .pubcomp(let id):
                return (nil, session.connection, finish(id, expecting: .awaitingPubcomp))
            case .pubrec(let id):
                guard let inflight = session.inflight[id], inflight.stage == .awaitingPubrec else {
                    return (.pubrel(packetID: id), nil, [])
                }
                session.inflight[id]?.stage = .awaitingPubcomp
                let operations: [StoreOperation] =
                    session.persistent && store != nil
                    ? [.markInflight(clientID: clientID, sequence: inflight.delivery.sequence, packetID: id, stage: .awaitingPubcomp)]
                    : []
                return (.pubrel(packetID: id), nil, operations)
            default:
                return (nil, nil, [])
            }
        }
        // A finished delivery needs no waiting: if its removal is lost, the client gets a resend it
        // recognises by its packet id. A freed window slot may let a queued message go.
        commit(operations) { result in reply(result.map { answer }) }
        wake?.wakeUp()
    }

    /// Handles a SUBSCRIBE: grants each valid, authorised filter at its requested QoS, queues
    /// the retained messages it matches [MQTT-3.3.1-6], and answers SUBACK once durable.
    public func subscribe(_ packet: MQTTPacket.Subscribe, clientID: String, principal: Principal, reply: @escaping Reply) {
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
        let operations = state.withLock { state -> [StoreOperation] in
            guard let session = state.sessions[clientID], session.persistent else { return [] }
            return granted.map { .subscribe(clientID: clientID, filter: $0.0, qos: $0.1) }
        }
        commit(operations) { [self, granted, codes] result in
            if case .success = result {
                let wake = state.withLock { state -> (any BrokerConnection)? in
                    guard let session = state.sessions[clientID] else { return nil }
                    for (filter, qos) in granted {
                        state.subscriptions.insert(filter, subscriber: clientID, options: qos)
                        session.subscriptions[filter] = qos
                        // Retained messages are sent to the live connection, not stored again.
                        for (topic, message) in state.retained where TopicFilter.matches(filter, topic: topic) {
                            var copy = message
                            copy.qos = min(message.qos, qos)
                            copy.retain = true
                            session.enqueue(.init(sequence: state.nextSequence(), messageID: 0, message: copy))
                        }
                    }
                    return session.connection
                }
                wake?.wakeUp()
            }
            reply(result.map { .suback(MQTTPacket.SubAck(packetID: packet.packetID, returnCodes: codes)) })
        }
    }

    public func unsubscribe(_ packet: MQTTPacket.Unsubscribe, clientID: String, reply: @escaping Reply) {
        let operations = state.withLock { state -> [StoreOperation] in
            guard let session = state.sessions[clientID] else { return [] }
            for filter in packet.filters {
                state.subscriptions.remove(filter, subscriber: clientID)
                session.subscriptions[filter] = nil
            }
            return session.persistent ? packet.filters.map { .unsubscribe(clientID: clientID, filter: $0) } : []
        }
        commit(operations) { result in reply(result.map { .unsuback(packetID: packet.packetID) }) }
    }

    // MARK: Outbound

    /// Hands `deliver` the packets to write to `clientID`: first what was in flight when the
    /// client reconnected (PUBLISH with DUP, or PUBREL), then queued messages while the in-flight
    /// window has room. QoS 0 and 1 go at once; a QoS 2 PUBLISH of a persistent session goes only
    /// once its packet id is durable, so a crash can never make the hub send it again as a new
    /// message. `deliver` is called at once (perhaps with nothing) and maybe once more, from the
    /// store's thread.
    public func outgoing(clientID: String, deliver: @escaping @Sendable ([MQTTPacket]) -> Void) {
        let (immediate, afterCommit, operations) = state.withLock {
            state -> ([MQTTPacket], [MQTTPacket], [StoreOperation]) in
            guard let session = state.sessions[clientID] else { return ([], [], []) }
            var immediate: [MQTTPacket] = []
            var afterCommit: [MQTTPacket] = []
            var operations: [StoreOperation] = []
            if session.resendInflight {
                session.resendInflight = false
                for id in session.inflightOrder {
                    guard let inflight = session.inflight[id] else { continue }
                    switch inflight.stage {
                    case .awaitingPubcomp: immediate.append(.pubrel(packetID: id))
                    case .awaitingPuback, .awaitingPubrec:
                        immediate.append(.publish(Self.packet(inflight.delivery.message, packetID: id, duplicate: true)))
                    }
                }
            }
            while let delivery = session.dequeueIfRoom(window: configuration.maximumInflight) {
                let message = delivery.message
                guard message.qos != .atMostOnce else {
                    immediate.append(.publish(Self.packet(message, packetID: nil, duplicate: false)))
                    continue
                }
                let id = session.nextPacketID()
                let stage: InflightStage = message.qos == .atLeastOnce ? .awaitingPuback : .awaitingPubrec
                session.inflight[id] = Session.Inflight(delivery: delivery, stage: stage)
                session.inflightOrder.append(id)
                let publish = MQTTPacket.publish(Self.packet(message, packetID: id, duplicate: false))
                // Retained copies queued by a SUBSCRIBE (message id 0) were never stored.
                guard session.persistent, delivery.messageID != 0, store != nil else {
                    immediate.append(publish)
                    continue
                }
                operations.append(.markInflight(clientID: clientID, sequence: delivery.sequence, packetID: id, stage: stage))
                if message.qos == .exactlyOnce { afterCommit.append(publish) } else { immediate.append(publish) }
            }
            return (immediate, afterCommit, operations)
        }
        deliver(immediate)
        commit(operations) { result in
            if case .success = result, !afterCommit.isEmpty { deliver(afterCommit) }
        }
    }

    private static func packet(_ message: BrokerMessage, packetID: UInt16?, duplicate: Bool) -> MQTTPacket.Publish {
        MQTTPacket.Publish(
            topic: message.topic, payload: message.payload, qos: message.qos, retain: message.retain,
            duplicate: duplicate, packetID: packetID)
    }

    // MARK: Routing

    /// Publishes a message from the hub itself (notices, mission modules), with no authorization check.
    public func publishAsHub(_ message: BrokerMessage) {
        accept(message) { _ in }
    }

    /// Routes an accepted message: retains it if asked, finds its subscribers, commits what
    /// must be durable (with `operations` the caller needs committed too), then queues it.
    private func accept(
        _ message: BrokerMessage, operations: [StoreOperation] = [],
        then: @escaping @Sendable (Result<Void, any Error>) -> Void
    ) {
        var operations = operations
        var forwarded = message
        forwarded.retain = false
        let (targets, overflowed) = state.withLock { state -> ([(String, Session.Delivery)], [String]) in
            let messageID = state.nextMessageID()
            if message.retain {
                // An empty payload clears the retained message [MQTT-3.3.1-10, MQTT-3.3.1-11].
                state.retained[message.topic] = message.payload.readableBytes == 0 ? nil : message
                if store != nil { operations.append(.setRetained(messageID: messageID, message: message)) }
            }
            var best: [String: QoS] = [:]
            for match in state.subscriptions.matches(message.topic) {
                best[match.subscriber] = max(best[match.subscriber] ?? .atMostOnce, match.options)
            }
            var targets: [(String, Session.Delivery)] = []
            var overflowed: [String] = []
            for (clientID, qos) in best {
                guard let session = state.sessions[clientID] else { continue }
                var copy = forwarded
                // The highest QoS among matching subscriptions, capped by the message's [MQTT-3.3.5-1].
                copy.qos = min(message.qos, qos)
                // QoS 0 messages are not kept for sessions that are offline.
                if session.connection == nil, copy.qos == .atMostOnce { continue }
                if session.pendingCount >= configuration.maximumQueued {
                    // The new message is refused, never an older one dropped silently.
                    if copy.qos != .atMostOnce { overflowed.append(clientID) }
                    continue
                }
                let delivery = Session.Delivery(sequence: state.nextSequence(), messageID: messageID, message: copy)
                targets.append((clientID, delivery))
                if session.persistent, copy.qos != .atMostOnce, store != nil {
                    operations.append(.enqueue(clientID: clientID, sequence: delivery.sequence, messageID: messageID, message: copy))
                }
            }
            return (targets, overflowed)
        }
        commit(operations) { [self] result in
            if case .success = result {
                let wake = state.withLock { state -> [any BrokerConnection] in
                    targets.compactMap { clientID, delivery in
                        guard let session = state.sessions[clientID] else { return nil }
                        session.enqueue(delivery)
                        return session.connection
                    }
                }
                for connection in wake { connection.wakeUp() }
            }
            then(result)
        }
        queueFull.add(overflowed.count, ordering: .relaxed)
        if let publisher = message.publisher {
            for clientID in overflowed {
                notify(publisher, event: "queue-full", topic: message.topic, reason: "the queue of client \(clientID) is full")
            }
        }
    }

    /// Publishes a notice from the hub on `contingents/<C>/notices` of a contingent principal.
    private func notify(_ principal: Principal, event: String, topic: String, reason: String, code: String? = nil) {
        guard case .contingent(let contingent) = principal else { return }
        var notice: [String: JSONValue] = ["event": .string(event), "topic": .string(topic), "reason": .string(reason)]
        if let code { notice["code"] = .string(code) }
        publishAsHub(BrokerMessage(
            topic: "contingents/\(contingent)/notices", payload: ByteBuffer(bytes: JSONValue.object(notice).jsonData),
            qos: .atLeastOnce, precedence: .priority))
    }
}

// MARK: Sessions for operators (admin API)

/// What an operator sees of one session: who owns it, whether a client is connected, what it subscribed to and
/// how many messages wait for it.
public struct SessionSummary: Sendable, Hashable, Codable {
    public var clientID: String
    /// `contingent:KAZ` or `operator:<name>`: the principal the client id is bound to.
    public var principal: String
    public var connected: Bool
    /// False for a clean session, which ends with its connection.
    public var persistent: Bool
    /// Topic filters with their granted QoS, sorted by filter.
    public var subscriptions: [Subscription]
    /// Messages queued for the client and not yet sent.
    public var queued: Int
    /// QoS 1 and 2 messages sent and not yet acknowledged.
    public var inflight: Int

    public struct Subscription: Sendable, Hashable, Codable {
        public var filter: String
        public var qos: Int

        public init(filter: String, qos: Int) {
            self.filter = filter
            self.qos = qos
        }
    }
}

extension Broker {
    /// Every session, connected or kept for a persistent client, sorted by client id.
    public func sessionSummaries() -> [SessionSummary] {
        state.withLock { state in
            state.sessions.values.map { session in
                SessionSummary(
                    clientID: session.clientID, principal: session.owner.description,
                    connected: session.connection != nil, persistent: session.persistent,
                    subscriptions: session.subscriptions.sorted { $0.key < $1.key }.map {
                        SessionSummary.Subscription(filter: $0.key, qos: Int($0.value.rawValue))
                    },
                    queued: session.pendingCount, inflight: session.inflight.count)
            }
        }.sorted { $0.clientID < $1.clientID }
    }

    /// Closes the connection of `clientID` as the hub (no DISCONNECT from the client, so its will is published).
    /// The session itself stays if it is persistent. Returns false when no client with that id is connected.
    public func disconnect(clientID: String, reason: String) -> Bool {
        let connection = state.withLock { $0.sessions[clientID]?.connection }
        connection?.close(reason: reason)
        return connection != nil
    }
}
