import NIOCore
import PeaceHubCore

extension Broker {
    // MARK: PUBLISH

    /// Handles a PUBLISH from a client; `reply` gets the acknowledgement once what it promises is durable.
    ///
    /// A publication the principal may not make is dropped and reported on the sender's notices topic; a 3.1.1
    /// client still gets the acknowledgement QoS requires, a 5.0 client gets 0x87 Not authorized. A mission report
    /// the module rejects gets 0x99 with the module's reason; one held for an operator 0x83.
    ///
    /// A QoS 0 message that needs nothing but routing is added to `publisher.routes` instead: the connection hands
    /// them to `route(_:)` together, before its next other packet and at the end of each read, so that one lock
    /// routes a burst.
    public func publish(
        _ publish: MQTTPacket.Publish, clientID: String, connection: any BrokerConnection, principal: Principal,
        publisher: inout Publisher, reply: @escaping Reply
    ) {
        // Constants, for the closures below to capture, and `acknowledge` chosen without `??`: a captured variable
        // is a box, and a closure through a generic function a thunk, each allocated for every PUBLISH.
        let first: FirstCopy?
        if publish.qos == .exactlyOnce, let id = publish.packetID {
            guard let copy = firstCopy(of: id, clientID: clientID, connection: connection, reply: reply) else { return }
            first = copy
        } else {
            first = nil
        }
        let receiver = first?.session, version = first?.version ?? .v3_1_1, operations = first?.operations ?? []
        let acknowledge: Reply
        if let first { acknowledge = first.acknowledge } else { acknowledge = reply }
        let refusal = refusal(of: publish, principal: principal, publisher: &publisher)
        let claimed = interceptor?.claims(topic: publish.topic) ?? false
        // QoS 0 outside mission routing, the bulk of the traffic: nothing to answer, nothing to wait for.
        if refusal == nil, publish.qos == .atMostOnce, !claimed {
            return publisher.routes.append(
                message(of: publish, clientID: clientID, principal: principal))
        }
        // What follows outlives this call and mostly ends on the subscriber's event loop (the PUBACK its
        // acknowledgement sends): it keeps the packet's id and QoS, not the packet, whose topic, payload and
        // properties would otherwise be counted on both loops and freed on the other.
        let packetID = publish.packetID, qos = publish.qos, retain = publish.retain
        // A QoS 1 message that changes nothing stored but its subscribers' queues, the rest of the traffic, is
        // answered by its `PendingPuback` as soon as they all have it.
        if refusal == nil, qos == .atLeastOnce, let packetID, !retain, store != nil, !claimed {
            let puback = PendingPuback(
                packetID: packetID, holdTime: .nanoseconds(Int64(configuration.storeHoldTime.wholeNanoseconds)),
                reply: acknowledge)
            return accept(message(of: publish, clientID: clientID, principal: principal), puback: puback)
        }
        // A PUBLISH that could not be stored is not acknowledged (the connection closes): its QoS 2 packet id is
        // forgotten, so that the client's resend is taken as new, not as a duplicate of a message never routed.
        let failed: @Sendable (any Error) -> Void = { [self, receiver] error in
            if let receiver, let packetID { forget(packetID, of: receiver) }
            acknowledge(.failure(error))
        }
        // Answers with `code` once `operations` are durable. A 5.0 QoS 2 PUBLISH refused with a failure code is
        // finished: its packet id is free at once, no PUBREL follows [MQTT-4.3.3-4].
        let finish: @Sendable (ReasonCode, String?) -> Void = { [self, operations, version, receiver] code, reason in
            var operations = operations
            if let receiver, let packetID {
                operations = self.operations(operations, for: receiver, clientID: clientID, packetID: packetID)
                if code.isFailure, version == .v5 {
                    forget(packetID, of: receiver)
                    operations.removeAll { $0 == .addInboundQoS2(clientID: clientID, packetID: packetID) }
                }
            }
            let answer = Self.acknowledgement(packetID: packetID, qos: qos, code, reason)
            // Nothing to store, a QoS 1 message's usual case: answered at once, with no completion to allocate.
            guard !operations.isEmpty else { return acknowledge(.success(answer)) }
            commit(operations) { result in
                switch result {
                case .success: acknowledge(.success(answer))
                case .failure(let error): failed(error)
                }
            }
        }
        if let refusal { return finish(refusal.code, refusal.reason) }
        let message = message(of: publish, clientID: clientID, principal: principal)
        let delivered: @Sendable (Result<Routing, any Error>) -> Void = { result in
            switch result {
            case .success(let routing):
                let (code, reason) = Self.acknowledgementCode(of: routing, retain: retain)
                finish(code, reason)
            case .failure(let error):
                failed(error)
            }
        }
        guard let interceptor, claimed else {
            return accept(message, operations: operations, then: delivered)
        }
        judge(message, by: interceptor, principal: principal, refused: finish, failed: failed) {
            [self, operations, receiver] judged in
            let operations =
                if let receiver, let packetID {
                    self.operations(operations, for: receiver, clientID: clientID, packetID: packetID)
                } else { operations }
            accept(judged, operations: operations, then: delivered)
        }
    }

    /// The first copy of a QoS 2 PUBLISH: the session that took its packet id (and that session's protocol
    /// version), what stores the id, and the answer, which decides the id.
    private struct FirstCopy {
        var session: Session
        var version: MQTTVersion
        var operations: [StoreOperation]
        var acknowledge: Reply
    }

    /// Takes the packet id of a QoS 2 PUBLISH. A resent one whose PUBREL has not come yet is not delivered again:
    /// it is answered as the first was, once that is decided (a PUBREC at once let a client take a message the
    /// module then rejected, or the store lost, for delivered). Returns nil when it is answered so (or its session
    /// was taken over).
    private func firstCopy(
        of id: UInt16, clientID: String, connection: any BrokerConnection, reply: @escaping Reply
    ) -> FirstCopy? {
        enum Copy { case first, decided, undecided }
        let answer = state.withLock { state -> (session: Session, version: MQTTVersion, copy: Copy)? in
            guard let session = state.session(clientID, of: connection) else { return nil }
            // Undecided even when its id is forgotten already (refused, or not stored): the answer is on its way.
            if session.undecidedQoS2[id] != nil {
                session.undecidedQoS2[id]!.append(reply)
                return (session, session.version, .undecided)
            }
            guard session.inboundQoS2.insert(id).inserted else { return (session, session.version, .decided) }
            session.undecidedQoS2[id] = []
            return (session, session.version, .first)
        }
        guard let answer else {
            reply(.failure(SessionTakenOver(clientID: clientID)))
            return nil
        }
        switch answer.copy {
        case .decided:
            reply(.success(.pubrec(packetID: id)))
            return nil
        case .undecided:
            return nil
        case .first:
            break
        }
        let session = answer.session
        let acknowledge: Reply = { [self] result in
            // Decided before the answer goes: a client that has it may use the packet id again at once.
            let waiting = state.withLock { _ in session.undecidedQoS2.removeValue(forKey: id) } ?? []
            reply(result)
            for resend in waiting { resend(result) }
        }
        let operations: [StoreOperation] =
            session.isStored && store != nil ? [.addInboundQoS2(clientID: clientID, packetID: id)] : []
        return FirstCopy(session: session, version: answer.version, operations: operations, acknowledge: acknowledge)
    }

    /// Frees the packet id of a QoS 2 PUBLISH that ends here without its PUBREC, in the session that took it.
    private func forget(_ packetID: UInt16, of receiver: Session) {
        state.withLock { _ in _ = receiver.inboundQoS2.remove(packetID) }
    }

    /// `operations` without storing a QoS 2 packet id for a session other than `receiver`, the one that took it.
    /// A Clean Start CONNECT that took the session over while the message was judged made a new session under the
    /// client id, by which the store knows sessions: after a restart, that session's own QoS 2 PUBLISH with the
    /// id was taken for a resend.
    private func operations(
        _ operations: [StoreOperation], for receiver: Session, clientID: String, packetID: UInt16
    ) -> [StoreOperation] {
        guard state.withLock({ $0.sessions[clientID] !== receiver }) else { return operations }
        return operations.filter { $0 != .addInboundQoS2(clientID: clientID, packetID: packetID) }
    }

    /// Has the interceptor judge a message on a topic it claims: `deliver` gets the message to route; a rejected or
    /// held one is counted, its sender told on its notices topic, and `refused` gets the code and reason for the
    /// acknowledgement; `failed` gets why one the interceptor could not keep goes unacknowledged (a will has no
    /// `failed`: it goes as decided). A PUBLISH and a will go the same way.
    func judge(
        _ message: BrokerMessage, by interceptor: any PublishInterceptor, principal: Principal,
        refused: @escaping @Sendable (ReasonCode, String) -> Void, failed: (@Sendable (any Error) -> Void)?,
        deliver: @escaping @Sendable (BrokerMessage) -> Void
    ) {
        interceptor.intercept(message, principal: principal) { [self] decision in
            var decision = decision
            if case .failed(let reason, let decided) = decision {
                if let failed { return failed(InterceptorFailure(description: reason)) }
                decision = decided
            }
            switch decision {
            case .deliver(let judged):
                deliver(judged)
            case .reject(let code, let reason):
                reportsRejected.add(1, ordering: .relaxed)
                notify(principal, event: "report-rejected", topic: message.topic, reason: reason, code: code)
                refused(.payloadFormatInvalid, "\(code): \(reason)")
            case .hold(let reason):
                reportsHeld.add(1, ordering: .relaxed)
                notify(principal, event: "report-held", topic: message.topic, reason: reason)
                refused(.implementationSpecificError, "held for an operator: \(reason)")
            case .failed:
                break  // taken care of above
            }
        }
    }

    /// What one connection keeps between its PUBLISHes: the QoS 0 messages of the current burst not routed yet,
    /// the authorizer's version as the burst's first PUBLISH read it, and the last authorization decision. A
    /// publisher mostly repeats its topic, and comparing it with the last one costs less than the authorizer's
    /// shared table (a lock and a hash per PUBLISH); a burst is one read's worth, so reading the version once for
    /// it delays a registry change no more than the version's own freshness does.
    public struct Publisher {
        public internal(set) var routes: [BrokerMessage] = []
        /// nil until the burst's first PUBLISH reads it; `.some(nil)` when the authorizer keeps no decisions.
        fileprivate var burstVersion: Int??
        fileprivate var lastDecision: LastDecision?

        public init() {}
    }

    /// Whether the principal may publish on `topic`, decided at the authorizer's `version`.
    fileprivate struct LastDecision {
        var topic: String
        var version: Int
        var allowed: Bool
    }

    /// Ends a burst: routes the QoS 0 messages `publish(_:clientID:principal:publisher:reply:)` set aside, in
    /// order, and lets the next PUBLISH read the authorizer's version again. The connection calls it at the end of
    /// each read and before any packet that is not a QoS 0 PUBLISH.
    public func route(_ publisher: inout Publisher) {
        publisher.burstVersion = nil
        guard !publisher.routes.isEmpty else { return }
        accept(publisher.routes, then: Self.ignore)
        publisher.routes.removeAll(keepingCapacity: true)
    }

    /// Why a PUBLISH is refused before routing, if it is: a payload that is not UTF-8 as declared, or a topic the
    /// principal may not publish on (counted, and noticed to the sender).
    private func refusal(
        of publish: MQTTPacket.Publish, principal: Principal, publisher: inout Publisher
    ) -> (code: ReasonCode, reason: String)? {
        if publish.properties.payloadFormatIndicator == 1,
            String(validating: publish.payload.readableBytesView, as: UTF8.self) == nil
        {
            return (.payloadFormatInvalid, "the payload is not valid UTF-8 (Payload Format Indicator 1)")
        }
        guard mayPublish(principal, topic: publish.topic, publisher: &publisher) else {
            publishesRefused.add(1, ordering: .relaxed)
            metrics.publishRefused()
            notify(principal, event: "publish-refused", topic: publish.topic, reason: "not authorized to publish on this topic")
            return (.notAuthorized, "not authorized to publish on \(publish.topic)")
        }
        if publish.retain,
            let reason = retainRefusal(topic: publish.topic, payloadBytes: publish.payload.readableBytes, by: principal)
        {
            return (.quotaExceeded, reason)
        }
        return nil
    }

    /// Why a retained message of `principal` on `topic` would be one too many
    /// (`Configuration.maximumRetainedPerPrincipal`), if it would: counted and noticed as a refused PUBLISH. An
    /// empty one clears, and is never refused.
    func retainRefusal(topic: String, payloadBytes: Int, by principal: Principal) -> String? {
        guard payloadBytes > 0 else { return nil }
        let maximum = configuration.maximumRetainedPerPrincipal
        guard !state.withLock({ $0.mayRetain(on: topic, by: principal, maximum: maximum) }) else { return nil }
        let reason = "\(principal) holds its maximum of \(maximum) retained messages: clear one first"
        publishesRefused.add(1, ordering: .relaxed)
        metrics.publishRefused()
        notify(principal, event: "publish-refused", topic: topic, reason: reason)
        return reason
    }

    /// The authorizer's decision, or the connection's last one when the topic and the authorizer's version are
    /// the same. The version is read before deciding, so a decision is never kept past a change it did not see.
    private func mayPublish(_ principal: Principal, topic: String, publisher: inout Publisher) -> Bool {
        let version: Int?
        if let read = publisher.burstVersion {
            version = read
        } else {
            version = authorizer.decisionVersion()
            publisher.burstVersion = version
        }
        if let version, let last = publisher.lastDecision, last.version == version, sameUTF8(last.topic, topic) {
            return last.allowed
        }
        let allowed = authorizer.mayPublish(principal, topic: topic)
        publisher.lastDecision = version.map { LastDecision(topic: topic, version: $0, allowed: allowed) }
        return allowed
    }

    /// The application message a client's PUBLISH carries.
    private func message(of publish: MQTTPacket.Publish, clientID: String, principal: Principal) -> BrokerMessage {
        let expiry = publish.properties.messageExpiryInterval.flatMap { $0 == 0 ? nil : clock() + Int64($0) * 1000 }
        let precedence = Precedence.of(
            topic: publish.topic, payload: publish.payload, properties: publish.properties,
            precedenceTopics: precedenceTopics)
        return BrokerMessage(
            topic: publish.topic, payload: publish.payload, qos: publish.qos, retain: publish.retain,
            precedence: precedence, publisher: principal, publisherClientID: clientID,
            properties: publish.properties.forwardable, expiresAt: expiry)
    }

    /// The completion of a routing nobody waits for.
    static let ignore: @Sendable (Result<Routing, any Error>) -> Void = { _ in }

    /// What a routed PUBLISH is acknowledged with: 0x97 when it reached no one because their queues were full,
    /// 0x10 when no one subscribes (a retained one is kept, so it is a success).
    static func acknowledgementCode(of routing: Routing, retain: Bool) -> (ReasonCode, String?) {
        if routing.sessions == 0 && routing.full > 0 {
            return (.quotaExceeded, "the queues of its subscribers are full")
        }
        return (routing.sessions == 0 && !retain ? .noMatchingSubscribers : .success, nil)
    }

    /// The PUBACK or PUBREC a PUBLISH with `packetID` gets (none for QoS 0); a 3.1.1 encoder drops the code and the
    /// reason.
    static func acknowledgement(packetID: UInt16?, qos: QoS, _ code: ReasonCode, _ reason: String?) -> MQTTPacket? {
        guard let packetID else { return nil }
        let ack = MQTTPacket.Acknowledgement(
            packetID: packetID, reasonCode: code, properties: reason.map { [.reason($0)] } ?? [])
        return qos == .atLeastOnce ? .puback(ack) : .pubrec(ack)
    }

    /// PUBREL for an inbound QoS 2 message: once the packet id is free again, PUBCOMP (5.0: 0x92 for an id the
    /// hub does not know).
    public func release(packetID: UInt16, clientID: String, connection: any BrokerConnection, reply: @escaping Reply) {
        let answer = state.withLock { state -> (known: Bool, stored: Bool, version: MQTTVersion)? in
            guard let session = state.session(clientID, of: connection) else { return nil }
            return (session.inboundQoS2.remove(packetID) != nil, session.isStored, session.version)
        }
        guard let (known, stored, version) = answer else {
            return reply(.failure(SessionTakenOver(clientID: clientID)))
        }
        let operations: [StoreOperation] =
            known && stored && store != nil ? [.removeInboundQoS2(clientID: clientID, packetID: packetID)] : []
        let code: ReasonCode = known || version == .v3_1_1 ? .success : .packetIdentifierNotFound
        commit(operations) { result in reply(result.map { .pubcomp(packetID: packetID, code) }) }
    }

    /// PUBACKs and PUBCOMPs, which end outbound deliveries and answer nothing: a connection hands over those of one
    /// read together, for one lock and one wake-up for what the freed window slots let go. A finished delivery
    /// needs no waiting: if its removal is lost, the client gets a resend it recognises by its packet id. The
    /// acknowledgement of a QoS 1 message's last stored delivery may send its publisher's PUBACK (`PendingPuback`).
    func complete(
        _ deliveries: [(packetID: UInt16, stage: InflightStage)], clientID: String, connection: any BrokerConnection
    ) {
        var pubacks: [(PendingPuback, Routing)] = []
        let (wake, operations) = state.withLock { state -> ((any BrokerConnection)?, [StoreOperation]) in
            // One from a connection taken over ends nothing: it would free the newer one's packet ids.
            guard let session = state.session(clientID, of: connection) else { return (nil, []) }
            var operations: [StoreOperation] = []
            for (id, stage) in deliveries {
                let (removal, puback) = finish(id, expecting: stage, in: session)
                if let removal { operations.append(removal) }
                if let puback { pubacks.append(puback) }
            }
            return (session.connection, operations)
        }
        commit(operations) { _ in }
        wake?.wakeUp()
        for (puback, routing) in pubacks { puback.answer(.success(routing)) }
    }

    /// Ends an outbound delivery at `stage`, under the broker's lock: what the store must remove, and the
    /// publisher's PUBACK to send once the lock is released, if this was its last stored delivery.
    private func finish(
        _ id: UInt16, expecting stage: InflightStage, in session: Session
    ) -> (removal: StoreOperation?, puback: (PendingPuback, Routing)?) {
        guard let inflight = session.inflight[id], inflight.stage == stage else { return (nil, nil) }
        session.removeInflight(id)
        var puback: (PendingPuback, Routing)?
        if let pending = inflight.delivery.puback {
            let (stored, owed) = pending.acknowledged(inflight.delivery.sequence)
            puback = owed.map { (pending, $0) }
            guard stored else { return (nil, puback) }
        }
        let removal: StoreOperation? =
            session.isStored && store != nil && inflight.delivery.messageID != 0
            ? .removeDelivery(clientID: session.clientID, sequence: inflight.delivery.sequence) : nil
        return (removal, puback)
    }

    /// PUBREC for an outbound QoS 2 message, answered with PUBREL only once the new stage is durable: after a crash
    /// the hub then resends PUBREL, never the PUBLISH the client has already released (no QoS 2 duplicate). A 5.0
    /// PUBREC with a failure code ends the delivery there, and answers nothing.
    public func acknowledge(
        _ pubrec: MQTTPacket.Acknowledgement, clientID: String, connection: any BrokerConnection,
        reply: @escaping Reply
    ) {
        let id = pubrec.packetID
        if pubrec.reasonCode.isFailure {
            complete([(id, .awaitingPubrec)], clientID: clientID, connection: connection)
            return reply(.success(nil))
        }
        let answer = state.withLock { state -> (MQTTPacket, [StoreOperation])? in
            // One from a connection taken over answers nothing: it would free the newer one's packet ids.
            guard let session = state.session(clientID, of: connection) else { return nil }
            guard let inflight = session.inflight[id] else {
                let code: ReasonCode = session.version == .v5 ? .packetIdentifierNotFound : .success
                return (.pubrel(packetID: id, code), [])
            }
            guard inflight.stage == .awaitingPubrec else { return (.pubrel(packetID: id), []) }
            session.inflight[id]?.stage = .awaitingPubcomp
            // A reconnect sends the PUBRELs again in the order their PUBRECs came [MQTT-4.6.0-4]; the PUBLISHes
            // left keep the order they were first sent in.
            session.inflightOrder.removeAll { $0 == id }
            session.inflightOrder.append(id)
            let operations: [StoreOperation] =
                session.isStored && store != nil && inflight.delivery.messageID != 0
                ? [.markInflight(clientID: clientID, sequence: inflight.delivery.sequence, packetID: id, stage: .awaitingPubcomp)]
                : []
            return (.pubrel(packetID: id), operations)
        }
        guard let (pubrel, operations) = answer else { return reply(.success(nil)) }
        commit(operations) { result in reply(result.map { pubrel }) }
    }

    // MARK: SUBSCRIBE

    /// Handles a SUBSCRIBE: grants each valid, authorised filter at its requested QoS, queues the retained
    /// messages it matches as its Retain Handling asks [MQTT-3.3.1-9, MQTT-3.8.4-4], and answers SUBACK once
    /// durable; the subscriptions are in force from the start. A shared subscription is authorised for the filter
    /// after its group name.
    public func subscribe(
        _ packet: MQTTPacket.Subscribe, clientID: String, connection: any BrokerConnection, principal: Principal,
        reply: @escaping Reply
    ) {
        let identifier = packet.properties.subscriptionIdentifiers.first
        // The packet's filters the session holds already, and how many it holds in all (a set of all its filters,
        // made for every SUBSCRIBE, cost a session of 50,000 subscriptions 37 ms a packet in the debug build).
        let holding = state.withLock { state -> (Set<ExactString>, Int)? in
            guard let session = state.session(clientID, of: connection) else { return nil }
            let filters = packet.subscriptions.map(\.0).filter { session.subscriptions[$0] != nil }
            return (Set(filters.map(ExactString.init)), session.subscriptions.count)
        }
        guard var (held, count) = holding else { return reply(.failure(SessionTakenOver(clientID: clientID))) }
        var codes: [ReasonCode] = []
        var granted: [(String, Subscription)] = []
        for (filter, options) in packet.subscriptions {
            let underlying = SharedSubscription.authorizedFilter(of: filter)
            guard let underlying, TopicFilter.isValid(underlying) else {
                codes.append(.topicFilterInvalid)
                continue
            }
            guard authorizer.maySubscribe(principal, filter: underlying) else {
                codes.append(.notAuthorized)
                continue
            }
            if !held.contains(ExactString(filter)) {
                guard count < configuration.maximumSubscriptionsPerSession else {
                    codes.append(.quotaExceeded)
                    continue
                }
                held.insert(ExactString(filter))
                count += 1
            }
            codes.append(.granted(options.qos))
            granted.append((filter, Subscription(options: options, identifier: identifier)))
        }
        // In force at once, like an UNSUBSCRIBE: a PUBLISH the client sends right after its SUBSCRIBE reaches it
        // even while the store commits the subscription.
        let now = clock()
        let (session, operations, replaced) = state.withLock {
            state -> (Session?, [StoreOperation], [(String, Subscription?)]) in
            guard let session = state.session(clientID, of: connection) else { return (nil, [], []) }
            var replaced: [(String, Subscription?)] = []
            let storesDeliveries = session.isStored && store != nil
            var operations: [StoreOperation] =
                storesDeliveries ? granted.map { .subscribe(clientID: clientID, filter: $0.0, subscription: $0.1) } : []
            for (filter, subscription) in granted {
                let previous = session.subscriptions.updateValue(subscription, forKey: filter)
                replaced.append((filter, previous))
                state.insertSubscription(filter, clientID: clientID, subscription)
                // No retained messages for a shared subscription (section 4.8.2); otherwise as asked.
                switch subscription.options.retainHandling {
                case .doNotSend: continue
                case .sendIfNew where previous != nil: continue
                default: if SharedSubscription(filter) != nil { continue }
                }
                for topic in state.retainedTopics.topics(matching: filter) {
                    guard let message = state.retained[topic], !message.isExpired(at: now) else { continue }
                    var copy = message
                    copy.qos = min(message.qos, subscription.qos)
                    copy.retain = true
                    let identifiers = identifier.map { [$0] } ?? []
                    var delivery = Session.Delivery(
                        sequence: state.nextSequence(), messageID: 0, message: copy,
                        subscriptionIdentifiers: identifiers)
                    // A QoS 1 or 2 copy is part of a stored session like any other delivery: unacknowledged, it
                    // is sent again after a restart [MQTT-4.4.0-1], and a QoS 2 copy's packet id is stored
                    // before it leaves. It is committed with the subscription, before the wake-up sends it.
                    if storesDeliveries, copy.qos != .atMostOnce {
                        delivery.messageID = state.nextMessageID()
                        operations.append(
                            .enqueue(
                                clientID: clientID, sequence: delivery.sequence, messageID: delivery.messageID,
                                message: copy, subscriptionIdentifiers: identifiers))
                    }
                    session.enqueue(delivery)
                }
            }
            return (session, operations, replaced)
        }
        guard let session else { return reply(.failure(SessionTakenOver(clientID: clientID))) }
        commit(operations) { [self, codes] result in
            if case .failure = result { restore(replaced, in: session) }
            reply(result.map { .suback(MQTTPacket.SubAck(packetID: packet.packetID, reasonCodes: codes)) })
            // After the SUBACK, so that the retained messages follow it.
            if case .success = result { connection.wakeUp() }
        }
    }

    /// Puts back the subscriptions a SUBSCRIBE whose commit failed replaced (or removes those it added), unless
    /// the session has ended meanwhile.
    private func restore(_ replaced: [(String, Subscription?)], in session: Session) {
        state.withLock { state in
            let clientID = session.clientID
            guard state.sessions[clientID] === session else { return }
            for (filter, previous) in replaced.reversed() {
                if let current = session.subscriptions[filter] {
                    state.removeSubscription(filter, clientID: clientID, current)
                }
                session.subscriptions[filter] = previous
                if let previous { state.insertSubscription(filter, clientID: clientID, previous) }
            }
        }
    }

    /// Handles an UNSUBSCRIBE; a 5.0 client learns per filter whether it had the subscription.
    public func unsubscribe(
        _ packet: MQTTPacket.Unsubscribe, clientID: String, connection: any BrokerConnection, reply: @escaping Reply
    ) {
        let answer = state.withLock { state -> ([ReasonCode], [StoreOperation])? in
            guard let session = state.session(clientID, of: connection) else { return nil }
            var codes: [ReasonCode] = []
            var operations: [StoreOperation] = []
            for filter in packet.filters {
                guard let subscription = session.subscriptions.removeValue(forKey: filter) else {
                    codes.append(.noSubscriptionExisted)
                    continue
                }
                state.removeSubscription(filter, clientID: clientID, subscription)
                codes.append(.success)
                if session.isStored, store != nil { operations.append(.unsubscribe(clientID: clientID, filter: filter)) }
            }
            return (codes, operations)
        }
        guard let (codes, operations) = answer else { return reply(.failure(SessionTakenOver(clientID: clientID))) }
        commit(operations) { result in
            reply(result.map { .unsuback(MQTTPacket.UnsubAck(packetID: packet.packetID, reasonCodes: codes)) })
        }
    }
}
