import NIOCore
import PeaceHubCore

/// A 5.0 connection's outbound topic aliases as it takes its deliveries (`Broker.outgoing`): whether a topic has
/// one, and how many more it may set.
struct OutboundTopicAliases: Sendable {
    var isSet: @Sendable (String) -> Bool
    var left: Int

    static var none: OutboundTopicAliases { OutboundTopicAliases(isSet: { _ in false }, left: 0) }
}

extension Broker {
    // MARK: Outbound

    /// What a connection writes for its session: a delivery, which the connection encodes as a PUBLISH for its
    /// protocol version (`packet(_:packetID:duplicate:version:at:)`), the PUBREL of a QoS 2 message in flight, or
    /// QoS 0 PUBLISHes already encoded (`Session.enqueueEncoded(_:)`). A delivery goes as it is queued, so handing
    /// it over copies no topic, payload or properties.
    enum Outgoing {
        case publish(Session.Delivery, packetID: UInt16?, duplicate: Bool)
        case pubrel(packetID: UInt16)
        case encoded(ByteBuffer)
    }

    /// A connection's turn at its session's messages (`outgoing(_:)`): `deliver` gets what to write to `clientID`.
    /// `aliases` are the connection's topic aliases (5.0): a PUBLISH is measured as it will be sent, by alias where
    /// the connection has one for its topic or will set one with this turn's first PUBLISH on it.
    struct OutgoingTurn: Sendable {
        var clientID: String
        var connection: any BrokerConnection
        var aliases: OutboundTopicAliases
        var deliver: @Sendable ([Outgoing]) -> Void
    }

    /// Hands each turn's `deliver` what to write: first the QoS 0 messages encoded for its connection, then what
    /// was in flight when the client reconnected (PUBLISH with DUP, or PUBREL), then queued messages, each PUBLISH
    /// while the in-flight window has room [MQTT-3.3.4-9]. Expired messages not yet sent are dropped
    /// [MQTT-3.3.2-5], and so are messages larger than the client's Maximum Packet Size, as if delivered
    /// [MQTT-3.1.2-25]. QoS 0 and 1 go at once; a QoS 2 PUBLISH of a stored session goes only once its packet id
    /// is durable, so a crash can never make the hub send it again as a new message: the commit releases it to
    /// the connection's next turn (a wake-up). Each `deliver` is called once, at once (perhaps with nothing). The
    /// turns of the connections one event-loop task woke are taken together, under one lock.
    func outgoing(_ turns: [OutgoingTurn]) {
        let now = clock()
        let taken = state.withLock { state in turns.map { take($0, at: now, from: &state) } }
        for (turn, taken) in zip(turns, taken) { hand(taken, to: turn) }
    }

    /// What one turn takes under the lock: what to write at once, the QoS 2 PUBLISHes released by the commit of
    /// their packet ids, and the store operations.
    private typealias TakenTurn = (immediate: [Outgoing], afterCommit: Release?, operations: [StoreOperation])
    private typealias Release = (session: Session, connectionNumber: Int, publishes: [(Session.Delivery, UInt16)])

    private func take(_ turn: OutgoingTurn, at now: Int64, from state: inout State) -> TakenTurn {
        let clientID = turn.clientID, aliases = turn.aliases
        // A connection taken over takes nothing: the newer one has the session's messages.
        guard let session = state.session(clientID, of: turn.connection) else { return ([], nil, []) }
        if session.awaitingFirstTurn { session.lastTookAt = now }
        session.awaitingFirstTurn = false
        var immediate: [Outgoing] = []
        var afterCommit: [(Session.Delivery, UInt16)] = []
        var operations: [StoreOperation] = []
        let stored = session.isStored && store != nil
        // Encoded messages came before anything queued (`Session.takesEncoded(_:identifiers:)`).
        if let encoded = session.takeEncoded() {
            immediate.append(.encoded(encoded))
            session.lastTookAt = now
        }
        // Topics this turn's PUBLISHes will set an alias for, as the connection sets them: the first PUBLISH on a
        // topic without one, while aliases are left and the alias's three bytes keep it within the maximum. A
        // QoS 2 PUBLISH that waits for its packet id's commit sets its alias when written, after this turn's
        // QoS 0 PUBLISHes and before any QoS 1 or 2 one taken after it.
        var aliasesLeft = aliases.left
        var settingAlias: Set<ExactString> = []
        var settingAliasAfterCommit: Set<ExactString> = []
        func sentByAlias(_ topic: String, qos: QoS) -> Bool {
            aliases.isSet(topic) || settingAlias.contains(ExactString(topic))
                || (qos != .atMostOnce && settingAliasAfterCommit.contains(ExactString(topic)))
        }
        // Sized with the packet id it will carry (its two bytes may lengthen the Remaining Length too), and by
        // alias if it goes so; `withNewAlias` adds the alias property a first PUBLISH on a topic carries.
        func size(of delivery: Session.Delivery, withNewAlias: Bool = false) -> Int {
            let packetID: UInt16? = delivery.message.qos == .atMostOnce ? nil : 1
            var packet = Self.packet(
                delivery, packetID: packetID, duplicate: false, version: session.version, at: now)
            if withNewAlias || sentByAlias(packet.topic, qos: packet.qos) {
                if !withNewAlias { packet.topic = "" }
                packet.properties.set(.topicAlias(1))  // three bytes, whatever the alias
            }
            return packet.encodedSize(version: session.version)
        }
        // Notes the alias a PUBLISH written this turn, or once committed, will set
        // (`MQTTConnectionHandler.assignAlias(_:)`).
        func noteAlias(of delivery: Session.Delivery, afterCommit: Bool = false) {
            guard aliasesLeft > 0, let maximum = session.maximumPacketSize,
                !sentByAlias(delivery.message.topic, qos: delivery.message.qos),
                size(of: delivery, withNewAlias: true) <= maximum
            else { return }
            if afterCommit {
                settingAliasAfterCommit.insert(ExactString(delivery.message.topic))
            } else {
                settingAlias.insert(ExactString(delivery.message.topic))
            }
            aliasesLeft -= 1
        }
        // Drops a delivery the client's Maximum Packet Size excludes, as if delivered, and one not yet sent that
        // expired (a message whose delivery started is delivered to the end).
        func dropped(_ delivery: Session.Delivery, started: Bool) -> Bool {
            let message = delivery.message
            let tooLarge = session.maximumPacketSize.map { size(of: delivery) > $0 } ?? false
            guard tooLarge || (!started && message.isExpired(at: now)) else { return false }
            if let removal = storeRemoval(of: delivery, clientID: clientID, stored: stored) {
                operations.append(removal)
            }
            return true
        }
        // A PUBREL goes again as it is; a PUBLISH only while the window has room, since the new connection's
        // Receive Maximum may be smaller than the last one's.
        while let id = session.resend.first {
            guard let inflight = session.inflight[id] else {
                session.resend.removeFirst()
                continue
            }
            if inflight.stage == .awaitingPubcomp {
                session.resend.removeFirst()
                immediate.append(.pubrel(packetID: id))
                continue
            }
            guard session.hasRoomToResend else { break }
            session.resend.removeFirst()
            if dropped(inflight.delivery, started: true) {
                session.removeInflight(id)
                continue
            }
            immediate.append(.publish(inflight.delivery, packetID: id, duplicate: true))
            noteAlias(of: inflight.delivery)
        }
        // QoS 2 PUBLISHes whose packet ids were stored meanwhile, before anything given an id after them.
        for (delivery, id) in session.released {
            immediate.append(.publish(delivery, packetID: id, duplicate: false))
            noteAlias(of: delivery)
        }
        session.released.removeAll()
        // A QoS 1 PUBLISH does not overtake a QoS 2 one waiting for its packet id to be stored: the client would
        // get them in another order than their ids were given, and after a reconnect or a restart they would be
        // sent again in that order, not the one first sent [MQTT-4.6.0-1].
        func held(_ delivery: Session.Delivery) -> Bool {
            delivery.message.qos == .atLeastOnce && (session.committing > 0 || !afterCommit.isEmpty)
        }
        while let delivery = session.dequeueIfRoom(unless: held) {
            session.lastTookAt = now
            let message = delivery.message
            if dropped(delivery, started: false) { continue }
            state.traffic.sent(message, as: message.qos)
            guard message.qos != .atMostOnce else {
                immediate.append(.publish(delivery, packetID: nil, duplicate: false))
                noteAlias(of: delivery)
                continue
            }
            let id = session.nextPacketID()
            let stage: InflightStage = message.qos == .atLeastOnce ? .awaitingPuback : .awaitingPubrec
            session.inflight[id] = Session.Inflight(delivery: delivery, stage: stage)
            session.inflightOrder.append(id)
            // A delivery of a session that is not stored has message id 0.
            guard stored, delivery.messageID != 0 else {
                immediate.append(.publish(delivery, packetID: id, duplicate: false))
                noteAlias(of: delivery)
                continue
            }
            if delivery.puback?.sent(delivery.sequence, packetID: id, stage: stage) != true {
                operations.append(
                    .markInflight(clientID: clientID, sequence: delivery.sequence, packetID: id, stage: stage))
            }
            if message.qos == .exactlyOnce {
                afterCommit.append((delivery, id))
                noteAlias(of: delivery, afterCommit: true)
            } else {
                immediate.append(.publish(delivery, packetID: id, duplicate: false))
                noteAlias(of: delivery)
            }
        }
        if !afterCommit.isEmpty { session.committing += 1 }
        return (immediate, afterCommit.isEmpty ? nil : (session, session.connectionNumber, afterCommit), operations)
    }

    private func hand(_ taken: TakenTurn, to turn: OutgoingTurn) {
        let (immediate, afterCommit, operations) = taken
        turn.deliver(immediate)
        guard let (session, connectionNumber, afterCommit) = afterCommit else { return commit(operations) { _ in } }
        // Released to the connection's next turn, which writes them before whatever it takes from the queue then:
        // written from here, they could follow a QoS 1 PUBLISH that turn wrote.
        commit(operations) { [self] result in
            let connection = state.withLock { _ -> (any BrokerConnection)? in
                session.committing -= 1
                // Not stored: they stay in flight, sent again on the next connection; after a reconnect they are.
                if case .success = result, session.connectionNumber == connectionNumber {
                    session.released += afterCommit
                }
                return session.connection
            }
            connection?.wakeUp()
        }
    }

    /// The PUBLISH of a delivery for a client of `version` at `now` (milliseconds since 1970). A 5.0 client also
    /// gets the message's properties, the Subscription Identifiers that matched and the remaining Message Expiry
    /// Interval, in whole seconds rounded up [MQTT-3.3.2-6].
    static func packet(
        _ delivery: Session.Delivery, packetID: UInt16?, duplicate: Bool, version: MQTTVersion, at now: Int64
    ) -> MQTTPacket.Publish {
        let message = delivery.message
        var publish = MQTTPacket.Publish(
            topic: message.topic, payload: message.payload, qos: message.qos, retain: message.retain,
            duplicate: duplicate, packetID: packetID)
        guard version == .v5 else { return publish }
        publish.properties = message.properties
        if let expiresAt = message.expiresAt {
            let remaining = max(expiresAt - now, 1)
            publish.properties.set(.messageExpiryInterval(UInt32(clamping: (remaining + 999) / 1000)))
        }
        for identifier in delivery.subscriptionIdentifiers {
            publish.properties.items.append(.subscriptionIdentifier(identifier))
        }
        return publish
    }

    // MARK: Routing

    /// Publishes a message from the hub itself (notices, mission modules), with no authorization check.
    public func publishAsHub(_ message: BrokerMessage) {
        accept(message) { _ in }
    }

    /// A module's message, under the bound a contingent's has: false, taking nothing, when its PUBLISH (QoS 1, no
    /// properties) would be larger than a client may send the hub (`maximumPacketSize`).
    public func publishFromModule(_ message: BrokerMessage) -> Bool {
        let remaining = MQTTPacket.Publish.remainingLength(
            topic: message.topic, payload: message.payload, packetID: 1, properties: nil)
        guard 1 + VariableByteInteger.size(of: remaining) + remaining <= configuration.maximumPacketSize else {
            return false
        }
        publishAsHub(message)
        return true
    }

    /// What one session gets of a message: the best of its matching subscriptions.
    struct Target {
        /// The subscriptions merged, apart by Retain As Published: a retained message keeps its RETAIN flag for
        /// the one and has it cleared for the other [MQTT-3.3.1-12, MQTT-3.3.1-13], so it goes as a copy for each
        /// when both matched. Otherwise one copy, at the highest QoS, with every identifier.
        var keepingRetain = Part()
        var clearingRetain = Part()
        /// The shared subscription the target comes from, while it comes from that alone (`Delivery.sharedFilter`).
        var sharedFilter: String?

        struct Part {
            var matched = false
            var qos: QoS = .atMostOnce
            var identifiers: [Int] = []

            mutating func merge(_ other: Part) {
                guard other.matched else { return }
                guard matched else { return self = other }
                qos = max(qos, other.qos)
                identifiers += other.identifiers
            }
        }

        mutating func merge(_ subscription: Subscription) {
            let identifiers = subscription.identifier.map { [$0] } ?? []
            let part = Part(matched: true, qos: subscription.qos, identifiers: identifiers)
            if subscription.options.retainAsPublished {
                keepingRetain.merge(part)
            } else {
                clearingRetain.merge(part)
            }
        }

        mutating func merge(_ other: Target) {
            keepingRetain.merge(other.keepingRetain)
            clearingRetain.merge(other.clearingRetain)
            if other.sharedFilter == nil { sharedFilter = nil }
        }
    }

    /// Where the messages of one topic go (`State.route(for:)`): each session with a matching subscription, its
    /// subscriptions merged, and the shared subscriptions, whose member is chosen for each message.
    struct TopicRoute {
        struct Client {
            let session: Session
            var target = Target()
            /// What it gets of its own messages when one of its subscriptions has No Local [MQTT-3.8.3-3]:
            /// the others merged (nil: nothing).
            var ownMessages: Target?
            var noLocal = false

            init(session: Session) {
                self.session = session
            }

            /// Whether `message` is its own and one of its subscriptions has No Local: it then gets the message
            /// through `ownMessages` only.
            func isOwn(_ message: BrokerMessage) -> Bool {
                noLocal && (message.publisherClientID.map { sameUTF8($0, session.clientID) } ?? false)
            }

            mutating func merge(_ subscription: Subscription) {
                target.merge(subscription)
                if subscription.options.noLocal {
                    noLocal = true
                } else {
                    ownMessages = ownMessages ?? Target()
                    ownMessages?.merge(subscription)
                }
            }
        }

        var clients: [Client] = []
        /// Full filters, `$share/<group>/<filter>`.
        var shared: [String] = []
    }

    /// Routes an accepted message: retains it if asked, finds its subscribers (one member per shared group),
    /// commits what must be durable (with `operations` the caller needs committed too), then queues it. `then`
    /// learns how many sessions it was queued for. With nothing to commit the message is queued at once, under
    /// the same lock that routed it. A message with a `puback` is answered by it instead, when the commit
    /// completes or when the stored deliveries are all acknowledged, whichever comes first.
    func accept(
        _ message: BrokerMessage, operations: [StoreOperation] = [], puback: PendingPuback? = nil,
        then: @escaping @Sendable (Result<Routing, any Error>) -> Void = Broker.ignore
    ) {
        // Not `[message]`: an array is an allocation for every QoS 1 PUBLISH.
        accept(CollectionOfOne(message), operations: operations, puback: puback, then: then)
    }

    /// Where an accepted message went: the sessions it was queued for, and those whose queue was full.
    struct Routing {
        var sessions: Int
        var full: Int
    }

    /// Routes `messages` in order, as `accept(_:operations:puback:then:)` does one, under one lock and with one
    /// commit: a connection hands over the QoS 0 PUBLISHes of one read together (`publish(_:...:routes:)`).
    func accept<Messages: RandomAccessCollection<BrokerMessage> & Sendable>(
        _ messages: Messages, operations: [StoreOperation] = [], puback: PendingPuback? = nil,
        then: @escaping @Sendable (Result<Routing, any Error>) -> Void
    ) {
        var operations = operations
        let maximumQueued = configuration.maximumQueued
        var waiting: [(Session, Session.Delivery)] = []
        var wake: [any BrokerConnection] = []
        var routed = 0
        var stored = 0
        var heldBack = false
        var scheduleHold: NIODeadline?
        var overflowed: [(message: BrokerMessage, session: Session)] = []
        var slow: [any BrokerConnection] = []
        // The retained messages the batch replaces, by topic: a commit that fails puts them back.
        var replacedRetained: [(topic: String, previous: BrokerMessage?)] = []
        state.withLock { state in
            let pass = state.nextRoutingPass()
            // A burst mostly repeats its topic: the route is looked up (a hash of the topic) once per run of it.
            // Messages and the route are read in place, by index: a copy of either is a count up and down for each
            // reference it holds.
            var last: (topic: String, route: TopicRoute)?
            for index in messages.indices {
                let message = messages[index]
                if message.retain, store != nil,
                    !replacedRetained.contains(where: { sameUTF8($0.topic, message.topic) })
                {
                    replacedRetained.append((message.topic, state.retained[message.topic]))
                }
                if last == nil || !sameUTF8(last!.topic, message.topic) {
                    last = (message.topic, state.route(for: message.topic))
                }
                routed += route(
                    messages[index], along: last!.route, in: &state, pass: pass, maximumQueued: maximumQueued,
                    puback: puback, stored: &stored, operations: &operations, waiting: &waiting, wake: &wake,
                    overflowed: &overflowed, slow: &slow)
            }
            // Before the lock is released: no delivery can be acknowledged yet.
            guard let puback, stored > 0 else { return }
            puback.expect(stored, routing: Routing(sessions: routed, full: overflowed.count))
            guard puback.holds else { return operations += puback.takeHeld { _ in true } }
            heldBack = true
            scheduleHold = state.hold(puback, until: .now() + puback.holdTime)
        }
        // Submitted before the connections are woken, so that the store gets a delivery's enqueue before the
        // removal its acknowledgement causes, which may then cancel it (`SQLiteBrokerStore.acknowledgedWithin`).
        let routing = Routing(sessions: routed, full: overflowed.count)
        if operations.isEmpty {
            // Nothing to commit, as for every QoS 0 burst and a QoS 1 message whose deliveries are held: answered
            // now, with no completion to allocate (and no delivery waits for a commit).
            answer(.success(()), routing: routing, puback: puback, stored: stored, heldBack: heldBack, then: then)
        } else {
            commit(operations) { [self, waiting, stored, heldBack, replacedRetained] result in
                if case .failure = result, !replacedRetained.isEmpty {
                    restoreRetained(replacedRetained, after: messages)
                }
                if !waiting.isEmpty {
                    // A session that ended meanwhile (or was replaced by a clean start) gets nothing.
                    let wake = state.withLock { state -> [any BrokerConnection] in
                        waiting.compactMap { session, delivery in
                            session.arriving -= 1
                            guard case .success = result, state.sessions[session.clientID] === session else {
                                return nil
                            }
                            session.enqueue(delivery)
                            return session.connection
                        }
                    }
                    for connection in wake { connection.wakeUp() }
                }
                answer(result, routing: routing, puback: puback, stored: stored, heldBack: heldBack, then: then)
            }
        }
        for connection in wake { connection.wakeUp() }
        if let scheduleHold { scheduleHeldDeliveries(at: scheduleHold) }
        for connection in slow {
            connection.close(.quotaExceeded, reason: "its queue of \(maximumQueued) messages is full")
        }
        if !overflowed.isEmpty {
            queueFull.add(overflowed.count, ordering: .relaxed)
            metrics.queueFull(overflowed.count)
        }
        // Another principal's client ids are its own business: the publisher learns them only for its sessions.
        for (message, session) in overflowed {
            guard let publisher = message.publisher else { continue }
            let whose = session.owner == publisher ? "the queue of client \(session.clientID)" : "a subscriber's queue"
            notify(publisher, event: "queue-full", topic: message.topic, reason: "\(whose) is full")
        }
    }

    /// Answers accepted messages once what they changed is committed. A message with a `PendingPuback` is
    /// answered by it: here, by its subscribers' acknowledgements, or by the commit of the held deliveries.
    private func answer(
        _ result: Result<Void, any Error>, routing: Routing, puback: PendingPuback?, stored: Int, heldBack: Bool,
        then: @Sendable (Result<Routing, any Error>) -> Void
    ) {
        guard let puback else { return then(result.map { routing }) }
        if stored == 0 { return puback.answer(result.map { routing }) }
        if !heldBack { puback.settle(result) }
    }

    /// Puts back the retained messages `messages` replaced when their commit failed: the publisher had no
    /// acknowledgement, and the store still has the old ones (a restart brought those back). A topic set again
    /// since by another message keeps that one.
    private func restoreRetained(
        _ replaced: [(topic: String, previous: BrokerMessage?)],
        after messages: some BidirectionalCollection<BrokerMessage>
    ) {
        state.withLock { state in
            for (topic, previous) in replaced {
                guard let last = messages.last(where: { $0.retain && sameUTF8($0.topic, topic) }) else { continue }
                let setByBatch = last.payload.readableBytes == 0 ? nil : last
                if state.retained[topic] == setByBatch { state.setRetained(previous, on: topic) }
            }
        }
    }

    /// Routes one message along its topic's route under the broker's lock; returns how many sessions it is
    /// queued for. Deliveries that must wait for `operations` to commit go to `waiting`, connections with
    /// something new to `wake` (once in a routing `pass`). Stored deliveries carry `puback` and are counted in
    /// `stored`.
    private func route(
        _ message: BrokerMessage, along topicRoute: TopicRoute, in state: inout State, pass: UInt64,
        maximumQueued: Int, puback: PendingPuback?, stored: inout Int, operations: inout [StoreOperation],
        waiting: inout [(Session, Session.Delivery)], wake: inout [any BrokerConnection],
        overflowed: inout [(message: BrokerMessage, session: Session)], slow: inout [any BrokerConnection]
    ) -> Int {
        let messageID = state.nextMessageID()
        if message.publisher != nil { state.traffic.received(message) }
        if message.retain {
            // An empty payload clears the retained message [MQTT-3.3.1-10, MQTT-3.3.1-11].
            state.setRetained(message.payload.readableBytes == 0 ? nil : message, on: message.topic)
            if store != nil, !message.topic.utf8.starts(with: Self.systemTopicPrefix.utf8) {
                operations.append(.setRetained(messageID: messageID, message: message))
            }
        }
        // QoS 0 and 1 messages are queued at once, even before the store has committed what the message changes. A
        // crash before the commit then costs at most a duplicate (the publisher had no acknowledgement and sends
        // again), which QoS 1 allows; and a subscriber that acknowledges before the commit spares the store the
        // write (`SQLiteBrokerStore.acknowledgedWithin`). Every delivery of a QoS 2 message, at whatever QoS it goes
        // out, waits for the commit: after a failed one the publisher sends it again, and no subscriber may get it
        // twice [MQTT-4.3.3-10].
        var exactlyOnce: [(Session, Session.Delivery)] = []
        var queued = 0
        func deliver(to session: Session, _ target: Target) {
            if message.retain, target.keepingRetain.matched, target.clearingRetain.matched {
                deliver(to: session, target.keepingRetain, retain: true, sharedFilter: target.sharedFilter)
                deliver(to: session, target.clearingRetain, retain: false, sharedFilter: target.sharedFilter)
                return
            }
            var merged = target.keepingRetain
            merged.merge(target.clearingRetain)
            let retain = message.retain && target.keepingRetain.matched
            deliver(to: session, merged, retain: retain, sharedFilter: target.sharedFilter)
        }
        func deliver(to session: Session, _ target: Target.Part, retain: Bool, sharedFilter: String?) {
            // The highest QoS among matching subscriptions, capped by the message's [MQTT-3.3.5-1].
            let qos = min(message.qos, target.qos)
            // QoS 0 messages are not kept for sessions that are offline.
            if session.connection == nil, qos == .atMostOnce { return }
            if session.isFull(limit: maximumQueued) {
                // The new message is refused, never an older one dropped silently; a 5.0 client that does
                // not keep up, having taken nothing from its queue for `slowConsumerGrace`, is told so and
                // disconnected (its stored session keeps the queue).
                if qos != .atMostOnce { overflowed.append((message, session)) }
                // Not one still connecting: its CONNECT would be refused, and the session never drained.
                if session.version == .v5, !session.awaitingFirstTurn, let connection = session.connection,
                    clock() - session.lastTookAt >= Self.slowConsumerGrace
                {
                    slow.append(connection)
                }
                return
            }
            if qos == .atMostOnce, !retain, message.qos != .exactlyOnce,
                session.takesEncoded(message, identifiers: target.identifiers)
            {
                queued += 1
                state.traffic.sent(message, as: qos)
                session.enqueueEncoded(message)
                session.addConnection(to: &wake, pass: pass)
                return
            }
            var copy = message
            copy.qos = qos
            copy.retain = retain
            let shared = sharedFilter.map { SharedOrigin(filter: $0, publishedQoS: message.qos) }
            var delivery = Session.Delivery(
                sequence: state.nextSequence(), messageID: messageID, message: copy,
                subscriptionIdentifiers: target.identifiers, shared: shared)
            queued += 1
            if session.isStored, copy.qos != .atMostOnce, store != nil {
                let enqueue = StoreOperation.enqueue(
                    clientID: session.clientID, sequence: delivery.sequence, messageID: messageID, message: copy,
                    subscriptionIdentifiers: target.identifiers, shared: shared)
                if let puback {
                    delivery.puback = puback
                    stored += 1
                }
                if puback?.hold(enqueue, sequence: delivery.sequence, for: session) != true {
                    operations.append(enqueue)
                }
            }
            if message.qos == .exactlyOnce {
                exactlyOnce.append((session, delivery))
            } else {
                session.enqueue(delivery)
                session.addConnection(to: &wake, pass: pass)
            }
        }
        // Shared subscriptions first: a member that also subscribed on its own gets one delivery, the best of both.
        // A member chosen by two groups gets a copy for each, since each group passes its own on when the member's
        // session ends [MQTT-4.8.2]: one merged copy named one group, and the other's message was lost.
        var members: [(session: Session, target: Target)] = []
        for filter in topicRoute.shared {
            guard let member = state.nextMember(of: filter, maximumQueued: maximumQueued),
                let session = state.sessions[member], let subscription = session.subscriptions[filter]
            else { continue }
            var target = Target(sharedFilter: filter)
            target.merge(subscription)
            members.append((session, target))
        }
        func deliverOrMerge(to session: Session, _ target: Target) {
            if let member = members.firstIndex(where: { $0.session === session }) {
                members[member].target.merge(target)
            } else {
                deliver(to: session, target)
            }
        }
        // Targets are read in place: a copy of one is a count up and down for each reference it holds.
        for index in topicRoute.clients.indices {
            let session = topicRoute.clients[index].session
            if !topicRoute.clients[index].isOwn(message) {
                deliverOrMerge(to: session, topicRoute.clients[index].target)
            } else if let target = topicRoute.clients[index].ownMessages {
                deliverOrMerge(to: session, target)
            }
        }
        for (session, target) in members { deliver(to: session, target) }
        let durableFirst = !operations.isEmpty && store != nil
        for (session, delivery) in exactlyOnce {
            if durableFirst {
                session.arriving += 1
                waiting.append((session, delivery))
            } else {
                session.enqueue(delivery)
                session.addConnection(to: &wake, pass: pass)
            }
        }
        return queued
    }

    /// Publishes a notice from the hub on `contingents/<C>/notices` of a contingent principal.
    func notify(_ principal: Principal, event: String, topic: String, reason: String, code: String? = nil) {
        guard case .contingent(let contingent) = principal else { return }
        var notice: [String: JSONValue] = ["event": .string(event), "topic": .string(topic), "reason": .string(reason)]
        if let code { notice["code"] = .string(code) }
        publishAsHub(BrokerMessage(
            topic: "contingents/\(contingent)/notices", payload: ByteBuffer(bytes: JSONValue.object(notice).jsonData),
            qos: .atLeastOnce, precedence: .priority))
    }
}

extension Broker.State {
    /// The member of a shared subscription's group that gets the next message: the next connected member with
    /// room in its queue, in turn; when none is connected, the next member whose session waits for it.
    mutating func nextMember(of filter: String, maximumQueued: Int) -> String? {
        guard var group = sharedGroups[filter], !group.members.isEmpty else { return nil }
        defer { sharedGroups[filter] = group }
        let count = group.members.count
        var fallback: Int?
        for step in 0..<count {
            let index = (group.next + step) % count
            let member = group.members[index].string
            guard let session = sessions[member] else { continue }
            if session.connection != nil, !session.isFull(limit: maximumQueued) {
                group.next = index + 1
                return member
            }
            if fallback == nil, session.isStored { fallback = index }
        }
        guard let fallback else { return nil }
        group.next = fallback + 1
        return group.members[fallback].string
    }
}
