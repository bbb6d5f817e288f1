import Foundation
import Logging
import NIOCore
import PeaceHubCore
import Synchronization

/// The MQTT broker's shared state: sessions, subscriptions and retained messages, for 3.1.1 and 5.0 clients alike.
///
/// Connections call in from their event loops; every call runs under one lock and hands the packets to write to
/// a reply closure, so the broker never writes to a channel itself. Messages for other sessions are queued there
/// and their connections are woken to fetch them (`outgoing`). Timed events (session expiry, delayed wills) run
/// from `housekeeping`, which the server calls every second.
///
/// With a `BrokerStore`, every change to a stored session (one that outlives its connection) or a retained
/// message is committed before the packet that caused it is acknowledged, and a routed QoS 2 message reaches its
/// subscribers' queues only once it is durable: an acknowledged message survives a crash, and a QoS 2 message is
/// never delivered twice (QoS 1 goes out at once: a crash may cost a duplicate, which QoS 1 allows).
public final class Broker: Sendable {
    public struct Configuration: Sendable, Equatable {
        /// Outbound QoS 1 and 2 messages a client may have unacknowledged at once (a 5.0 client's Receive Maximum
        /// may lower it for that client).
        public var maximumInflight: Int
        /// Messages queued per session beyond those in flight; when full, a new QoS 1 or 2 message for that
        /// session is refused and its publisher notified (`docs/protocol.md`).
        public var maximumQueued: Int
        /// Connected clients in all; one more is refused (3.1.1: return code 3; 5.0: 0x89 Server busy).
        public var maximumConnections: Int
        /// Connected clients of one contingent or operator; one more is refused (3.1.1: 3; 5.0: 0x97).
        public var maximumConnectionsPerPrincipal: Int
        /// The largest packet accepted from a client, fixed header included (a 5.0 client is told in CONNACK).
        public var maximumPacketSize: Int
        /// QoS 1 and 2 PUBLISHes a 5.0 client may have unacknowledged by the hub (its Receive Maximum).
        public var receiveMaximum: UInt16
        /// Topic aliases a 5.0 client may set on one connection.
        public var topicAliasMaximum: UInt16
        /// Subscriptions one session may hold; more are refused (5.0: 0x97 Quota exceeded).
        public var maximumSubscriptionsPerSession: Int
        /// Retained messages one principal's PUBLISHes may hold at once (those it set last); a retained PUBLISH
        /// that would hold one more is refused (5.0: 0x97 Quota exceeded): retained messages live in the store and
        /// in memory until cleared, and one contingent could otherwise fill the disk every other one relies on.
        public var maximumRetainedPerPrincipal: Int
        /// The longest keep-alive the hub accepts from a 5.0 client, in seconds (it answers Server Keep Alive);
        /// 0: no limit.
        public var maximumKeepAlive: UInt16
        /// The longest Session Expiry Interval granted to a 5.0 client, in seconds; nil: no limit.
        public var maximumSessionExpiry: UInt32?
        /// How long the stored deliveries of a QoS 1 message are kept from the store, so that those their
        /// subscribers acknowledge meanwhile never reach it (`PendingPuback`); its PUBACK waits that much longer
        /// (up to a quarter more) when they do not. Zero: they go to the store as they are routed.
        public var storeHoldTime: Duration
        /// How long a connection may stay open after its TLS handshake without sending CONNECT; then it is closed.
        /// Such a connection holds no session and counts against no connection limit, so it must not stay.
        public var connectTimeout: Duration
        /// How often the broker's state is published, retained, under `$SYS/broker/` (as mosquitto's
        /// `sys_interval`); zero: never.
        public var systemReportInterval: Duration
        /// Topic filters whose queued messages leave by precedence (FLASH first): the topics the operator declares
        /// not to be MQTT Ordered Topics [MQTT-4.6.0-6]. Every other topic keeps the order its messages came in.
        /// Read when the broker is made.
        public var precedenceTopics: [String]

        public init(
            maximumInflight: Int = 32, maximumQueued: Int = 1000, maximumConnections: Int = 10_000,
            maximumConnectionsPerPrincipal: Int = 200, maximumPacketSize: Int = 4 << 20, receiveMaximum: UInt16 = 64,
            topicAliasMaximum: UInt16 = 16, maximumSubscriptionsPerSession: Int = 100,
            maximumRetainedPerPrincipal: Int = 1000, maximumKeepAlive: UInt16 = 0,
            maximumSessionExpiry: UInt32? = nil, storeHoldTime: Duration = .zero,
            connectTimeout: Duration = .seconds(10), systemReportInterval: Duration = .seconds(10),
            precedenceTopics: [String] = Configuration.defaultPrecedenceTopics
        ) {
            self.maximumInflight = maximumInflight
            self.maximumQueued = maximumQueued
            self.maximumConnections = maximumConnections
            self.maximumConnectionsPerPrincipal = maximumConnectionsPerPrincipal
            self.maximumPacketSize = maximumPacketSize
            self.receiveMaximum = receiveMaximum
            self.topicAliasMaximum = topicAliasMaximum
            self.maximumSubscriptionsPerSession = maximumSubscriptionsPerSession
            self.maximumRetainedPerPrincipal = maximumRetainedPerPrincipal
            self.maximumKeepAlive = maximumKeepAlive
            self.maximumSessionExpiry = maximumSessionExpiry
            self.storeHoldTime = storeHoldTime
            self.connectTimeout = connectTimeout
            self.systemReportInterval = systemReportInterval
            self.precedenceTopics = precedenceTopics
        }

        /// The contingents' inboxes and the mission reports: where a FLASH must not wait behind ROUTINE traffic.
        public static let defaultPrecedenceTopics = ["contingents/+/inbox", "missions/+/reports/+"]
    }

    /// A CONNECT the broker accepted.
    public struct Accepted: Sendable, Equatable {
        public var sessionPresent: Bool
        /// The client id in use: the client's, or one the hub assigned to an empty one.
        public var clientID: String
        public var assignedClientID: Bool
        /// The Session Expiry Interval granted, when the hub lowered the client's.
        public var sessionExpiryInterval: UInt32?
    }

    /// The answer to a CONNECT.
    public enum ConnectOutcome: Sendable, Equatable {
        case accepted(Accepted)
        case refused(ReasonCode)
    }

    /// What a reply closure receives: the packet to write, or the store failed and the
    /// connection must close without acknowledging.
    public typealias Reply = @Sendable (Result<MQTTPacket?, any Error>) -> Void

    /// Who a subscription in the tree belongs to: one session, or a shared subscription's group. Told apart by
    /// bytes, as client ids and filters are (`ExactString`).
    enum Subscriber: Hashable {
        case client(String)
        /// The full filter, `$share/<group>/<filter>`.
        case shared(String)

        static func == (lhs: Subscriber, rhs: Subscriber) -> Bool {
            switch (lhs, rhs) {
            case (.client(let a), .client(let b)), (.shared(let a), .shared(let b)): ExactString(a) == ExactString(b)
            default: false
            }
        }

        func hash(into hasher: inout Hasher) {
            switch self {
            case .client(let id):
                hasher.combine(0)
                hashUTF8(of: id, into: &hasher)
            case .shared(let filter):
                hasher.combine(1)
                hashUTF8(of: filter, into: &hasher)
            }
        }
    }

    /// The members of one shared subscription, served in turn.
    struct SharedGroup {
        var members: [ExactString] = []
        var next = 0
    }

    /// Keyed by client id, topic or filter, each told apart by its bytes (`ExactDictionary`).
    struct State {
        /// Changed through `insert(_:)` and `removeSession(_:)`, which keep `tally`.
        private(set) var sessions = ExactDictionary<Session>()
        let tally = SessionTally()
        var subscriptions = SubscriptionTree<Subscriber, Subscription>()
        var sharedGroups = ExactDictionary<SharedGroup>()
        /// Set through `setRetained(_:on:)`, which keeps the four below.
        private(set) var retained = ExactDictionary<BrokerMessage>()
        /// The topics of `retained`, for a SUBSCRIBE to find those its filter matches.
        private(set) var retainedTopics = RetainedTopicTree()
        /// How many of `retained` each principal's PUBLISHes set (`Configuration.maximumRetainedPerPrincipal`).
        private(set) var retainedByPrincipal: [Principal: Int] = [:]
        /// The topics of `retained` whose message expires: what `housekeeping` looks at, under the lock every
        /// message takes, rather than every retained message (1.1 ms at 100,000 of them, twice a second).
        private(set) var expiringRetained: Set<ExactString> = []
        /// How many of `retained` are not the hub's own `$SYS/broker/` reports (their count in the reports).
        private(set) var retainedOutsideSystem = 0
        /// Live connections, in all and by principal (a takeover changes neither).
        var connections = 0
        var connectionsByPrincipal: [Principal: Int] = [:]
        /// Disconnected sessions with an expiry or a delayed will, by when they are due: what `housekeeping` looks at.
        var timers = SessionTimers()
        /// Messages in and out since the last `housekeeping`, and since the broker started.
        var traffic = Traffic()
        var messagesReceived = 0
        var messagesSent = 0
        /// When `$SYS/broker/` was last published (`systemReport`) and when housekeeping last wrote
        /// `StoreOperation.recordAlive`, by `monotonicClock`.
        var lastSystemReport: Int64 = .min / 2
        var lastAliveRecorded: Int64 = .min / 2
        /// Recent routes by topic: most traffic repeats its topics, and a lookup costs less than a walk of the
        /// tree and a session lookup per subscriber. Emptied by every change to the subscriptions or the
        /// sessions, and when it reaches `routeCacheLimit` topics.
        var routeCache = ExactDictionary<TopicRoute>()
        static let routeCacheLimit = 10_000
        var lastSequence: UInt64 = 0
        var lastMessageID: UInt64 = 0
        /// Counts the lock holds that route messages (`Session.addConnection(to:pass:)`).
        var lastRoutingPass: UInt64 = 0
        /// QoS 1 messages whose stored deliveries are kept from the store (`Configuration.storeHoldTime`), each
        /// with the time its hold ends, in that order; and when the next `commitHeldDeliveries(dueBy:)` runs.
        var heldPubacks = CircularBuffer<(puback: PendingPuback, due: NIODeadline)>()
        var holdTick: NIODeadline?

        /// Holds `puback` until `due`; returns when to run `commitHeldDeliveries(dueBy:)`, if that is sooner than
        /// the next run.
        mutating func hold(_ puback: PendingPuback, until due: NIODeadline) -> NIODeadline? {
            // In order, so that the commit takes them from the front: only a lowered hold time puts one before
            // another.
            var index = heldPubacks.endIndex
            while index > heldPubacks.startIndex, heldPubacks[heldPubacks.index(before: index)].due > due {
                index = heldPubacks.index(before: index)
            }
            if index == heldPubacks.endIndex {
                heldPubacks.append((puback, due))  // `insert` copies the whole buffer, even at its end
            } else {
                heldPubacks.insert((puback, due), at: index)
            }
            if let holdTick, holdTick <= due { return nil }
            holdTick = due
            return due
        }

        /// Sets, replaces or (nil) clears the retained message of `topic`, counting it for its publisher.
        mutating func setRetained(_ message: BrokerMessage?, on topic: String) {
            let previous = retained[topic]
            if let publisher = previous?.publisher {
                retainedByPrincipal[publisher, default: 1] -= 1
                if retainedByPrincipal[publisher] == 0 { retainedByPrincipal[publisher] = nil }
            }
            if let publisher = message?.publisher { retainedByPrincipal[publisher, default: 0] += 1 }
            if message == nil {
                retainedTopics.remove(topic)
            } else if previous == nil {
                retainedTopics.insert(topic)
            }
            if message?.expiresAt != nil {
                expiringRetained.insert(ExactString(topic))
            } else if previous?.expiresAt != nil {
                expiringRetained.remove(ExactString(topic))
            }
            if !topic.utf8.starts(with: Broker.systemTopicPrefix.utf8) {
                retainedOutsideSystem += (message == nil ? 0 : 1) - (previous == nil ? 0 : 1)
            }
            retained[topic] = message
        }

        /// Whether `principal` may set the retained message of `topic`: it holds fewer than `maximum`, or the topic's
        /// is already one of its own.
        func mayRetain(on topic: String, by principal: Principal, maximum: Int) -> Bool {
            retained[topic]?.publisher == principal || retainedByPrincipal[principal, default: 0] < maximum
        }

        mutating func nextSequence() -> UInt64 {
            lastSequence += 1
            return lastSequence
        }

        mutating func nextMessageID() -> UInt64 {
            lastMessageID += 1
            return lastMessageID
        }

        mutating func nextRoutingPass() -> UInt64 {
            lastRoutingPass += 1
            return lastRoutingPass
        }
    }

    /// What the broker refused or set aside since it started.
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

    let queueFull = Atomic(0)
    let publishesRefused = Atomic(0)
    let reportsRejected = Atomic(0)
    let reportsHeld = Atomic(0)

    public var counters: Counters {
        Counters(
            queueFull: queueFull.load(ordering: .relaxed), publishesRefused: publishesRefused.load(ordering: .relaxed),
            reportsRejected: reportsRejected.load(ordering: .relaxed), reportsHeld: reportsHeld.load(ordering: .relaxed))
    }

    /// Messages queued for sessions beyond those in flight, and QoS 1 and 2 messages in flight, in all sessions:
    /// the `peacehub_mqtt_queued_messages` gauge and, together, `$SYS/broker/store/messages/count`.
    public var messagesHeld: (queued: Int, inflight: Int) {
        state.withLock { ($0.tally.queued, $0.tally.inflight) }
    }

    /// The limits in force, read at each use: `reconfigure(_:)` changes them while the broker runs.
    public var configuration: Configuration { settings.withLock { $0 } }
    private let settings: Mutex<Configuration>
    /// `Configuration.precedenceTopics` as the broker was made (read for every message that declares a precedence).
    let precedenceTopics: [String]
    /// The authorizer's decision version the subscriptions were last checked against (`recheckSubscriptions`).
    private let subscriptionsCheckedAt = Mutex<Int?>(nil)
    let authorizer: any MQTTAuthorizer
    let interceptor: (any PublishInterceptor)?
    let store: (any BrokerStore)?
    let logger: Logger
    let metrics: BrokerMetrics
    /// Milliseconds since 1970: message and session expiry are wall-clock times, so they hold across restarts.
    /// It never goes back while the hub runs (`nonDecreasing`).
    let clock: @Sendable () -> Int64
    let state: Mutex<State>
    /// The wake-up lists of the event loops the broker's connections run on, by loop.
    private let wakeUpLists = Mutex<[ObjectIdentifier: WakeUps]>([:])
    /// Milliseconds from a fixed point, unmoved by changes of the wall clock: `$SYS/broker/uptime`.
    let monotonicClock: @Sendable () -> Int64
    let startedAt: Int64

    /// The wall clock in milliseconds since 1970.
    public static let wallClock: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }
    /// Milliseconds since the machine started (`CLOCK_MONOTONIC`).
    public static let uptimeClock: @Sendable () -> Int64 = { Int64(DispatchTime.now().uptimeNanoseconds / 1_000_000) }

    /// `clock`, held at the latest time it has read: a wall clock set back (an NTP step) made the Message Expiry
    /// Interval sent exceed the publisher's [MQTT-3.3.2-6], and expired messages and sessions live longer.
    private static func nonDecreasing(_ clock: @escaping @Sendable () -> Int64) -> @Sendable () -> Int64 {
        let latest = LatestTime()
        return {
            let now = clock()
            // Read first: within one millisecond (hundreds of messages) the shared value is left unwritten.
            let last = latest.time.load(ordering: .relaxed)
            return now <= last ? last : latest.time.max(now, ordering: .relaxed).newValue
        }
    }

    private final class LatestTime: Sendable {
        let time = Atomic<Int64>(.min)
    }

    /// Creates a broker, restoring the stored sessions and retained messages from `store` (without a store
    /// everything lives in memory). A session stored while it was connected counts as disconnected now.
    public init(
        configuration: Configuration = Configuration(), authorizer: any MQTTAuthorizer,
        interceptor: (any PublishInterceptor)? = nil, store: (any BrokerStore)? = nil,
        logger: Logger = Logger(label: "peacehub.mqtt"), clock: @escaping @Sendable () -> Int64 = Broker.wallClock,
        monotonicClock: @escaping @Sendable () -> Int64 = Broker.uptimeClock
    ) throws {
        self.settings = Mutex(configuration)
        self.precedenceTopics = configuration.precedenceTopics
        self.authorizer = authorizer
        self.interceptor = interceptor
        self.store = store
        self.logger = logger
        self.clock = Self.nonDecreasing(clock)
        self.monotonicClock = monotonicClock
        startedAt = monotonicClock()
        metrics = BrokerMetrics()
        var initial = State()
        if let stored = try store?.load() {
            let now = clock()
            initial.lastSequence = stored.lastSequence
            initial.lastMessageID = stored.lastMessageID
            for (topic, message) in stored.retained { initial.setRetained(message, on: topic) }
            for saved in stored.sessions {
                let session = Session(clientID: saved.clientID, owner: saved.owner, expiryInterval: saved.expiryInterval)
                // A session still connected when the store was last written lost its connection when that hub
                // stopped: at a crash, within `aliveInterval` after it was last recorded alive. Its expiry counts
                // from the end of that window, never early [MQTT-3.1.2-23].
                let stopped = stored.lastAlive.map { min($0 + Self.aliveInterval, now) } ?? now
                session.expiresAt = saved.expiresAt ?? Self.expiry(of: saved.expiryInterval, from: stopped)
                session.inboundQoS2 = saved.inboundQoS2
                for (filter, subscription) in saved.subscriptions {
                    session.subscriptions[filter] = subscription
                    initial.insertSubscription(filter, clientID: saved.clientID, subscription)
                }
                for delivery in saved.deliveries {
                    let item = Session.Delivery(
                        sequence: delivery.sequence, messageID: delivery.messageID, message: delivery.message,
                        subscriptionIdentifiers: delivery.subscriptionIdentifiers, shared: delivery.shared)
                    if let packetID = delivery.packetID, let stage = delivery.stage {
                        session.inflight[packetID] = Session.Inflight(delivery: item, stage: stage)
                        session.inflightOrder.append(packetID)
                    } else {
                        session.enqueue(item)
                    }
                }
                if let stored = saved.will {
                    session.will = stored.will
                    session.willAt = stored.publishAt
                    session.willCredentials = stored.credentials
                }
                initial.insert(session)
                if let due = session.timerDue { initial.timers.schedule(saved.clientID, at: due) }
            }
        }
        state = Mutex(initial)
        // The registry may have changed while the hub was stopped: the stored subscriptions it no longer allows go
        // before any connection is accepted (housekeeping's first check would come a second after).
        recheckSubscriptions()
    }

    /// Changes the limits (a configuration reload). They apply from the next CONNECT, routed message or
    /// delivery on; connections, queued messages and messages in flight beyond a lowered limit stay.
    public func reconfigure(_ configuration: Configuration) {
        settings.withLock { $0 = configuration }
    }

    /// When a session with `interval` disconnected at `now` ends; nil if never.
    static func expiry(of interval: UInt32, from now: Int64) -> Int64? {
        interval == .max ? nil : now + Int64(interval) * 1000
    }

    /// Gives the store the deliveries held back from it (`Configuration.storeHoldTime`) that are still
    /// unacknowledged, in one commit that answers their publishers. The server calls it before the store's last
    /// flush.
    public func commitHeldDeliveries() {
        commitHeldDeliveries(dueBy: .distantFuture)
    }

    /// The same for the messages whose hold ends by `deadline`; the younger ones stay held. Taking every held
    /// message whenever the oldest one's hold ended wrote deliveries held for a fraction of it, which their
    /// subscribers would have acknowledged in time: at 1->16 1 KiB QoS 1, a sixth of the hub's CPU.
    func commitHeldDeliveries(dueBy deadline: NIODeadline) {
        // The store's thread wakes at most four times per hold time under a steady stream, not once per message:
        // a message then waits up to a quarter longer than its hold.
        let soonest = NIODeadline.now() + .nanoseconds(Int64(configuration.storeHoldTime.wholeNanoseconds / 4))
        let (settled, tick) = state.withLock { state -> ([PendingPuback], NIODeadline?) in
            var due: [PendingPuback] = []
            while let first = state.heldPubacks.first, first.due <= deadline {
                due.append(state.heldPubacks.removeFirst().puback)
            }
            if let holdTick = state.holdTick, holdTick <= deadline { state.holdTick = nil }
            var tick: NIODeadline?
            if state.holdTick == nil, let next = state.heldPubacks.first?.due {
                tick = max(next, soonest)
                state.holdTick = tick
            }
            var operations: [StoreOperation] = []
            for puback in due {
                operations += puback.takeHeld { state.sessions[$0.clientID] === $0 && $0.isStored }
            }
            guard !operations.isEmpty else { return (due, tick) }
            // Submitted under the lock, so that a session a later call ends or replaces gets them before that call.
            commit(operations) { [due] result in
                for puback in due { puback.settle(result) }
            }
            return ([], tick)
        }
        for puback in settled { puback.settle(.success(())) }
        if let tick { scheduleHeldDeliveries(at: tick) }
    }

    /// Runs `commitHeldDeliveries(dueBy:)` at `tick`, for the messages whose hold ends by then.
    func scheduleHeldDeliveries(at tick: NIODeadline) {
        let delay = max(tick - .now(), .zero)
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(delay.nanoseconds))) { [self] in
            // Not before `tick`, should the timer's clock run a little ahead.
            commitHeldDeliveries(dueBy: max(.now(), tick))
        }
    }

    /// Runs `then` once `operations` are durable (at once when there is nothing to store).
    func commit(_ operations: [StoreOperation], then: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        guard let store, !operations.isEmpty else { return then(.success(())) }
        store.commit(operations) { [logger] result in
            if case .failure(let error) = result { logger.error("broker store commit failed", metadata: ["error": "\(error)"]) }
            then(result)
        }
    }

    // MARK: Connections

    /// The wake-up list of `eventLoop`, shared by the connections that run on it.
    func wakeUps(on eventLoop: any EventLoop) -> WakeUps {
        wakeUpLists.withLock { lists in
            if let list = lists[ObjectIdentifier(eventLoop)] { return list }
            let list = WakeUps(eventLoop: eventLoop, broker: self)
            lists[ObjectIdentifier(eventLoop)] = list
            return list
        }
    }

    /// Binds a connection to a session after its CONNECT. A session bound to another principal is refused; a live
    /// connection of the same client is closed (takeover) [MQTT-3.1.4-2, MQTT-3.1.4-3]. Clean Start discards the
    /// session; otherwise it is resumed.
    public func connect(
        _ packet: MQTTPacket.Connect, principal: Principal, credentials: [String] = [],
        connection: any BrokerConnection, reply: @escaping @Sendable (Result<ConnectOutcome, any Error>) -> Void
    ) {
        var clientID = packet.clientID
        var assigned = false
        if clientID.isEmpty {
            // A 3.1.1 client may leave the id to the server only for a clean session [MQTT-3.1.3-8].
            guard packet.version == .v5 || packet.cleanStart else {
                return reply(.success(.refused(.clientIdentifierNotValid)))
            }
            clientID = Self.assignedClientID()
            assigned = true
        }
        if packet.properties.authenticationMethod != nil { return reply(.success(.refused(.badAuthenticationMethod))) }
        let lowered = loweredSessionExpiry(of: packet)
        let expiryInterval = lowered ?? packet.sessionExpiryInterval
        let now = clock()
        let (outcome, replaced, wills, operations) = state.withLock {
            state -> (ConnectOutcome, (any BrokerConnection)?, [PendingWill], [StoreOperation]) in
            var previous = state.sessions[clientID]
            var operations: [StoreOperation] = []
            var wills: [PendingWill] = []
            // A session whose interval has passed has ended, though housekeeping may not have dropped it yet: its
            // will goes now and the client starts afresh (MQTT 5 3.1.2.11.2 and 3.1.3.2.2).
            if let expired = previous, expired.connection == nil, let expiresAt = expired.expiresAt, expiresAt <= now {
                wills += expired.takeWill()
                drop(expired, from: &state, operations: &operations)
                previous = nil
            }
            if let previous, previous.owner != principal { return (.refused(.notAuthorized), nil, wills, operations) }
            if previous?.connection == nil {
                guard state.connections < configuration.maximumConnections else {
                    return (.refused(.serverBusy), nil, wills, operations)
                }
                guard state.connectionsByPrincipal[principal, default: 0] < configuration.maximumConnectionsPerPrincipal
                else { return (.refused(.quotaExceeded), nil, wills, operations) }
                state.connections += 1
                state.connectionsByPrincipal[principal, default: 0] += 1
            }
            let session: Session
            // Only a session that outlives its connection is resumed: one with no expiry (3.1.1 clean session 1,
            // 5.0 Session Expiry 0) ends with the connection this CONNECT takes over, and nothing of it may be used
            // again [MQTT-3.1.2-6] [MQTT-3.1.2-11.2].
            if let previous, !packet.cleanStart, previous.isStored {
                session = previous
                // A will still waiting for its delay is not sent: the session is back [MQTT-3.1.3-9].
                if previous.connection != nil, previous.will?.properties.willDelayInterval ?? 0 == 0 {
                    wills += previous.takeWill()
                }
                // A delayed will already due goes, though housekeeping (every half second) had not sent it yet: its
                // delay has passed [MQTT-3.1.2-8]. One not yet due is not sent: the client is back in time.
                let due = previous.willAt.map { $0 <= now } ?? false
                let held = takeWill(of: previous, &operations)
                if due { wills += held }
                let resized = resize(session, to: expiryInterval)
                operations += resized
                // A stored end time no longer holds: the client is back.
                if resized.isEmpty, previous.expiresAt != nil, previous.isStored, store != nil {
                    operations.append(
                        .setSessionExpiry(clientID: clientID, expiryInterval: expiryInterval, expiresAt: nil))
                }
            } else {
                if let previous {
                    wills += previous.takeWill()
                    drop(previous, from: &state, operations: &operations)
                }
                session = Session(clientID: clientID, owner: principal, expiryInterval: expiryInterval)
                state.insert(session)
                if session.isStored, store != nil {
                    operations.append(.createSession(clientID: clientID, owner: principal, expiryInterval: expiryInterval))
                }
            }
            let replaced = previous?.connection
            session.expiresAt = nil
            state.timers.cancel(clientID)
            session.will = packet.will
            session.willCredentials = packet.will == nil ? [] : credentials
            session.connection = connection
            session.version = packet.version
            session.window = min(configuration.maximumInflight, Int(packet.properties.receiveMaximum ?? .max))
            session.maximumPacketSize = packet.properties.maximumPacketSize.map(Int.init)
            session.takesTopicAliases = (packet.properties.topicAliasMaximum ?? 0) > 0
            // PUBRELs first, in the order their PUBRECs came [MQTT-4.6.0-4]: no window holds them back
            // [MQTT-4.9.0-3]. Then the PUBLISHes, in the order first sent [MQTT-4.6.0-1], as the window allows.
            let released = session.inflightOrder.filter { session.inflight[$0]?.stage == .awaitingPubcomp }
            session.resend = released + session.inflightOrder.filter { session.inflight[$0]?.stage != .awaitingPubcomp }
            // What was released to the last connection and not written goes with the resends.
            session.released.removeAll()
            session.connectionNumber += 1
            session.awaitingFirstTurn = true
            let accepted = Accepted(
                sessionPresent: session === previous, clientID: clientID, assignedClientID: assigned,
                sessionExpiryInterval: lowered)
            return (.accepted(accepted), replaced, wills, operations)
        }
        replaced?.close(.sessionTakenOver, reason: SessionTakenOver(clientID: clientID).description)
        for will in wills { publishWill(will) }
        commit(operations) { [self] result in
            // Refused for want of a store: the connection lets the session go again (without its will: the client
            // never heard it was connected), and its place under the limits with it.
            if case .failure = result, case .accepted(let accepted) = outcome {
                if accepted.sessionPresent {
                    disconnected(
                        clientID: accepted.clientID, connection: connection,
                        ending: .disconnect(publishWill: false, sessionExpiryInterval: nil))
                } else {
                    forgetSession(clientID: accepted.clientID, connection: connection)
                }
            }
            reply(result.map { outcome })
        }
    }

    /// Lets go of the session a refused CONNECT made. The store does not hold it: kept in memory, it would be
    /// resumed by the client's next CONNECT, and what that client subscribed to would never reach the file (the
    /// store takes a subscription only for a session it holds), to be missing after a restart. Nothing else has
    /// used it: its connection's packets wait for the CONNACK, so it holds no subscription and no message.
    private func forgetSession(clientID: String, connection: any BrokerConnection) {
        state.withLock { state in
            guard let session = state.sessions[clientID], session.connection === connection else { return }
            unbind(session, in: &state)
            // Not committed: its `deleteSession` would delete what the file still holds under the client id,
            // the session the refused CONNECT was to replace.
            var operations: [StoreOperation] = []
            drop(session, from: &state, operations: &operations)
        }
    }

    /// Unbinds `session` from its connection and gives back the connection's place under the limits (the lock is
    /// held).
    private func unbind(_ session: Session, in state: inout State) {
        session.connection = nil
        state.connections -= 1
        state.connectionsByPrincipal[session.owner, default: 1] -= 1
        if state.connectionsByPrincipal[session.owner] == 0 { state.connectionsByPrincipal[session.owner] = nil }
    }

    /// The store operations that make a resumed session's stored form match its new expiry interval: stored
    /// sessions that no longer outlive their connection are deleted.
    private func resize(_ session: Session, to interval: UInt32) -> [StoreOperation] {
        let wasStored = session.isStored
        let changed = session.expiryInterval != interval
        session.expiryInterval = interval
        guard store != nil else { return [] }
        switch (wasStored, session.isStored) {
        case (true, true):
            return changed ? [.setSessionExpiry(clientID: session.clientID, expiryInterval: interval, expiresAt: nil)] : []
        case (true, false):
            return [.deleteSession(clientID: session.clientID)]
        case (false, _):
            // Never stored, never resumed: a session without an expiry ends with its connection, and a DISCONNECT
            // cannot give it one (protocol error 0x82).
            return []
        }
    }

    /// Discards the wills whose clients connected with a certificate in `revoked` (`PeerCredentials`): a will,
    /// also one waiting out its delay after its connection was lost, would be a message from a principal cut off.
    /// The TLS layer calls it with every CRL it loads.
    public func discardWills(certifiedBy revoked: Set<String>) {
        let (discarded, operations) = state.withLock { state -> ([String], [StoreOperation]) in
            var operations: [StoreOperation] = []
            let discarded = state.sessions.values.compactMap { session -> String? in
                guard session.will != nil, session.willCredentials.contains(where: revoked.contains) else { return nil }
                _ = takeWill(of: session, &operations)
                return session.clientID
            }
            return (discarded, operations)
        }
        commit(operations) { _ in }
        for clientID in discarded {
            logger.notice(
                "will discarded: its client's certificate has been revoked", metadata: ["client": "\(clientID)"])
        }
    }

    /// Takes `session`'s will, as `Session.takeWill`; a delayed one leaves the store with it. (Where the session
    /// itself goes, its stored will goes with it.)
    private func takeWill(of session: Session, _ operations: inout [StoreOperation]) -> [PendingWill] {
        if session.willAt != nil, store != nil { operations.append(.setWill(clientID: session.clientID, will: nil)) }
        return session.takeWill()
    }

    /// How a connection ended, for its session and its will.
    public enum Ending: Sendable {
        /// A DISCONNECT arrived: the will is discarded only with reason 0x00 (normal disconnection); a 5.0 client
        /// may set a new Session Expiry Interval.
        case disconnect(publishWill: Bool, sessionExpiryInterval: UInt32?)
        /// The network connection ended or the hub closed it: the will is published.
        case lost
    }

    /// The connection ended. The session ends with it when its expiry interval is 0; otherwise it waits for the
    /// client until its interval has passed. The will is published now, after its delay, or when the session ends,
    /// whichever comes first [MQTT-3.1.2-8, MQTT-3.1.3-9].
    public func disconnected(clientID: String, connection: any BrokerConnection, ending: Ending) {
        let now = clock()
        let (wills, operations) = state.withLock { state -> ([PendingWill], [StoreOperation]) in
            guard let session = state.sessions[clientID], session.connection === connection else { return ([], []) }
            unbind(session, in: &state)
            var operations: [StoreOperation] = []
            var publishWill = true
            if case .disconnect(let withWill, let interval) = ending {
                publishWill = withWill
                // The limit announced in CONNACK holds for a DISCONNECT's new interval too.
                let interval = interval.map { min($0, configuration.maximumSessionExpiry ?? $0) }
                if let interval, interval != session.expiryInterval {
                    operations += resize(session, to: interval)
                }
            }
            if !publishWill { session.will = nil }
            guard session.isStored else {
                let wills = session.takeWill()
                drop(session, from: &state, operations: &operations)
                return (wills, operations)
            }
            session.expiresAt = Self.expiry(of: session.expiryInterval, from: now)
            if store != nil, session.expiresAt != nil {
                operations.append(
                    .setSessionExpiry(clientID: clientID, expiryInterval: session.expiryInterval, expiresAt: session.expiresAt))
            }
            var wills: [PendingWill] = []
            if let will = session.will, let delay = will.properties.willDelayInterval, delay > 0 {
                let willAt = now + Int64(min(delay, session.expiryInterval)) * 1000
                session.willAt = willAt
                if store != nil {
                    operations.append(
                        .setWill(
                            clientID: clientID,
                            will: StoredWill(will: will, publishAt: willAt, credentials: session.willCredentials)))
                }
            } else {
                wills = session.takeWill()
            }
            if let due = session.timerDue { state.timers.schedule(clientID, at: due) }
            return (wills, operations)
        }
        for will in wills { publishWill(will) }
        commit(operations) { _ in }
    }

    /// Publishes the delayed wills that are due and ends the disconnected sessions whose expiry interval has
    /// passed (publishing their wills first); publishes `$SYS/broker/` when its interval has passed. The server
    /// calls it every half second.
    public func housekeeping() {
        let now = clock()
        let reportInterval = configuration.systemReportInterval
        let (wills, operations, traffic, report) = state.withLock {
            state -> ([PendingWill], [StoreOperation], Traffic, [(String, String)]) in
            var wills: [PendingWill] = []
            var operations: [StoreOperation] = []
            for clientID in state.timers.takeDue(at: now) {
                guard let session = state.sessions[clientID], session.connection == nil else { continue }
                if let willAt = session.willAt, willAt <= now { wills += takeWill(of: session, &operations) }
                if let expiresAt = session.expiresAt, expiresAt <= now {
                    wills += session.takeWill()
                    drop(session, from: &state, operations: &operations)
                    logger.debug("session expired", metadata: ["client": "\(clientID)"])
                } else if let due = session.timerDue {
                    // Its will went (or was discarded) first; its end is still to come.
                    state.timers.schedule(clientID, at: due)
                }
            }
            for topic in state.expiringRetained {
                guard let message = state.retained[topic.string], message.isExpired(at: now) else { continue }
                state.setRetained(nil, on: topic.string)
                if store != nil {
                    var cleared = message
                    cleared.payload = ByteBuffer()
                    operations.append(.setRetained(messageID: 0, message: cleared))
                }
            }
            metrics.record(connections: state.connectionsByPrincipal, queued: state.tally.queued)
            let traffic = state.traffic.take()
            state.messagesReceived += traffic.receivedTotal
            state.messagesSent += traffic.sentTotal
            var report: [(String, String)] = []
            let intervalMilliseconds = Int64(reportInterval.wholeNanoseconds / 1_000_000)
            // Timed by the monotonic clock: a wall clock set back held both until it passed their last time again.
            let tick = monotonicClock()
            if intervalMilliseconds > 0, tick - state.lastSystemReport >= intervalMilliseconds {
                state.lastSystemReport = tick
                report = systemReport(state)
            }
            if store != nil, tick - state.lastAliveRecorded >= Self.aliveInterval {
                state.lastAliveRecorded = tick
                operations.append(.recordAlive(at: now))
            }
            return (wills, operations, traffic, report)
        }
        metrics.record(traffic)
        for will in wills { publishWill(will) }
        commit(operations) { _ in }
        recheckSubscriptions()
        for (topic, value) in report {
            publishAsHub(
                BrokerMessage(
                    topic: Self.systemTopicPrefix + topic, payload: ByteBuffer(string: value), qos: .atMostOnce,
                    retain: true, precedence: .routine))
        }
    }

    /// Withdraws the subscriptions the authorizer no longer allows, once its decisions may have changed (a
    /// deployment ended, a person moved): a SUBSCRIBE is checked when it comes, and without this a
    /// contingent kept reading a mission it had left until it reconnected. The authorizer is asked outside the
    /// broker's lock (it may read the registry); a subscription replaced meanwhile is left alone.
    private func recheckSubscriptions() {
        guard let version = authorizer.decisionVersion(),
            subscriptionsCheckedAt.withLock({ checked in
                defer { checked = version }
                return checked != version
            })
        else { return }
        // Each session's subscriptions under a lock of its own, so that thousands of sessions do not hold every
        // message up while all of them are copied.
        let sessions = state.withLock { Array($0.sessions.values) }
        let granted = sessions.flatMap { session in
            state.withLock { _ in session.subscriptions.map { (session.clientID, session.owner, $0.key, $0.value) } }
        }
        var decisions = ReadDecisions(authorizer: authorizer)
        let withdrawn = granted.filter { _, owner, filter, _ in
            guard let judged = SharedSubscription.authorizedFilter(of: filter) else { return true }
            return !decisions.mayRead(owner, judged)
        }
        let (removed, operations) = state.withLock { state -> ([(String, Principal, String)], [StoreOperation]) in
            var removed: [(String, Principal, String)] = []
            var operations: [StoreOperation] = []
            for (clientID, owner, filter, subscription) in withdrawn {
                guard let session = state.sessions[clientID], session.owner == owner,
                    session.subscriptions[filter] == subscription
                else { continue }
                session.subscriptions[filter] = nil
                state.removeSubscription(filter, clientID: clientID, subscription)
                if session.isStored, store != nil { operations.append(.unsubscribe(clientID: clientID, filter: filter)) }
                removed.append((clientID, owner, filter))
            }
            return (removed, operations)
        }
        for (clientID, owner, filter) in removed {
            logger.notice(
                "subscription withdrawn: the registry no longer allows it",
                metadata: ["client": "\(clientID)", "principal": "\(owner)", "filter": "\(filter)"])
        }
        commit(operations + withdrawQueued(&decisions)) { _ in }
    }

    /// The authorizer's decisions of one re-check, asked once for each principal and filter: thousands of sessions
    /// share a few (a re-check at 20,000 sessions asked 40,000 times and held the other clients up for a second in
    /// the debug build).
    private struct ReadDecisions {
        struct Key: Hashable {
            let principal: Principal
            let filter: ExactString
        }

        let authorizer: any MQTTAuthorizer
        var known: [Key: Bool] = [:]

        mutating func mayRead(_ principal: Principal, _ filter: String) -> Bool {
            let key = Key(principal: principal, filter: ExactString(filter))
            if let known = known[key] { return known }
            let allowed = authorizer.maySubscribe(principal, filter: filter)
            known[key] = allowed
            return allowed
        }
    }

    /// Takes the messages not yet sent to any session whose topics its principal may no longer read: they came
    /// through subscriptions since withdrawn (or given up by the client), and would otherwise reach a contingent
    /// that has left the mission when it next connects, or reads again. A shared subscription's message goes to
    /// another member of its group. What was sent already (in flight, or written to the connection) stays.
    /// Returns the store's part.
    private func withdrawQueued(_ decisions: inout ReadDecisions) -> [StoreOperation] {
        // Each queue is read under a lock of its own: reading them all under one held every message up for as long
        // as a large backlog took.
        let waiting = state.withLock { state in state.sessions.values.filter { $0.pendingCount > 0 } }
        let refused = waiting.compactMap { session -> (Session, Set<ExactString>)? in
            let topics = state.withLock { _ in
                Set(session.queued.map { ExactString($0.message.topic) }).union(session.encodedTopics)
            }
            let denied = topics.filter { !decisions.mayRead(session.owner, $0.string) }
            return denied.isEmpty ? nil : (session, denied)
        }
        guard !refused.isEmpty else { return [] }
        return state.withLock { state in
            var operations: [StoreOperation] = []
            for (session, topics) in refused where state.sessions[session.clientID] === session {
                let withdrawn = session.removeQueued { topics.contains(ExactString($0.message.topic)) }
                let encoded = session.removeEncoded { topics.contains(ExactString($0)) }
                for delivery in withdrawn {
                    if let removal = storeRemoval(of: delivery, clientID: session.clientID, stored: session.isStored) {
                        operations.append(removal)
                    }
                    if delivery.shared != nil, delivery.message.qos != .atMostOnce {
                        passOn(delivery, in: &state, operations: &operations)
                    }
                }
                logger.notice(
                    "queued messages withdrawn: the registry no longer allows their topics",
                    metadata: [
                        "client": "\(session.clientID)", "principal": "\(session.owner)",
                        "count": "\(withdrawn.count + encoded)",
                    ])
            }
            return operations
        }
    }

    /// The store's removal of a delivery that ends before its client acknowledged it (expired, too large, no longer
    /// allowed), when the store has it: not when it was held back from the store (`PendingPuback`), which then
    /// forgets it.
    func storeRemoval(of delivery: Session.Delivery, clientID: String, stored: Bool) -> StoreOperation? {
        guard stored, store != nil, delivery.messageID != 0, delivery.message.qos != .atMostOnce,
            delivery.puback?.forget(delivery.sequence) != true
        else { return nil }
        return .removeDelivery(clientID: clientID, sequence: delivery.sequence)
    }

    /// The Session Expiry Interval the hub gives a 5.0 client instead of the one it asked for, which its CONNACK
    /// then tells (`mqtt.maximumSessionExpirySeconds`).
    func loweredSessionExpiry(of connect: MQTTPacket.Connect) -> UInt32? {
        guard connect.version == .v5, let cap = configuration.maximumSessionExpiry, connect.sessionExpiryInterval > cap
        else { return nil }
        return cap
    }

    /// A client id for a client that left it to the hub: all of one length.
    static func assignedClientID() -> String { "peacehub-" + UUID().uuidString.lowercased() }

    /// Where the broker publishes its state; retained in memory only (`route`), never in the store: after a
    /// restart the old values would be wrong.
    static let systemTopicPrefix = "$SYS/broker/"
    /// How often housekeeping records that the hub runs (milliseconds): after a crash, the sessions connected then
    /// expire at most this much late.
    static let aliveInterval: Int64 = 5000
    /// How long a live 5.0 client may take nothing from its full queue before the next message that finds it full
    /// disconnects it with 0x97 (milliseconds).
    static let slowConsumerGrace: Int64 = 1000

    /// The values of `$SYS/broker/`, named and written as mosquitto writes its own (the lock is held).
    private func systemReport(_ state: State) -> [(String, String)] {
        let connected = state.connections
        return [
            ("version", "PeaceHub \(ProductVersion.current)"),
            ("uptime", "\((monotonicClock() - startedAt) / 1000) seconds"),
            ("clients/connected", "\(connected)"),
            ("clients/disconnected", "\(state.sessions.count - connected)"),
            ("clients/total", "\(state.sessions.count)"),
            ("subscriptions/count", "\(state.subscriptions.count)"),
            ("retained messages/count", "\(state.retainedOutsideSystem)"),
            ("store/messages/count", "\(state.tally.queued + state.tally.inflight)"),
            ("messages/received", "\(state.messagesReceived)"),
            ("messages/sent", "\(state.messagesSent)"),
        ]
    }

    /// Forgets a session (the lock is held). The QoS 1 and 2 messages it had from a shared subscription alone and
    /// its client did not receive go to another member of the group, as MQTT 5 4.8.2 asks: the group took them.
    /// A QoS 2 message sent to the client stays with it, acknowledged or not: its client may have it, and no other
    /// member may get it then [MQTT-4.8.2-5].
    func drop(_ session: Session, from state: inout State, operations: inout [StoreOperation]) {
        for (filter, subscription) in session.subscriptions {
            state.removeSubscription(filter, clientID: session.clientID, subscription)
        }
        state.removeSession(session.clientID)
        state.timers.cancel(session.clientID)
        if session.isStored, store != nil { operations.append(.deleteSession(clientID: session.clientID)) }
        let unreceived = session.inflightOrder.compactMap { id in
            session.inflight[id].flatMap { $0.delivery.message.qos == .exactlyOnce ? nil : $0.delivery }
        } + session.queued
        for delivery in unreceived where delivery.shared != nil && delivery.message.qos != .atMostOnce {
            passOn(delivery, in: &state, operations: &operations)
        }
    }

    /// Gives a message of a shared subscription to the group's next member (the lock is held).
    private func passOn(_ delivery: Session.Delivery, in state: inout State, operations: inout [StoreOperation]) {
        guard let shared = delivery.shared, !delivery.message.isExpired(at: clock()),
            let member = state.nextMember(of: shared.filter, maximumQueued: configuration.maximumQueued),
            let session = state.sessions[member], let subscription = session.subscriptions[shared.filter]
        else { return }
        var message = delivery.message
        message.qos = min(shared.publishedQoS, subscription.qos)
        // As in routing: QoS 0 messages are not kept for sessions that are offline.
        if message.qos == .atMostOnce, session.connection == nil { return }
        let copy = Session.Delivery(
            sequence: state.nextSequence(), messageID: delivery.messageID, message: message,
            subscriptionIdentifiers: subscription.identifier.map { [$0] } ?? [], shared: shared)
        if session.isStored, message.qos != .atMostOnce, store != nil {
            operations.append(
                .enqueue(
                    clientID: session.clientID, sequence: copy.sequence, messageID: copy.messageID, message: message,
                    subscriptionIdentifiers: copy.subscriptionIdentifiers, shared: shared))
        }
        session.enqueue(copy)
        // A wake-up only queues a task on the connection's event loop: safe under the lock.
        session.connection?.wakeUp()
    }

    /// A will on its way out, with the principal it is published as.
    struct PendingWill {
        var will: MQTTPacket.Will
        var owner: Principal
        var clientID: String
    }

    private func publishWill(_ pending: PendingWill) {
        let will = pending.will
        // Authorized when it goes, as a PUBLISH then would be (the registry may have changed since the CONNECT);
        // refused as one, and logged, since its client is gone and hears nothing.
        guard authorizer.mayPublish(pending.owner, topic: will.topic) else {
            publishesRefused.add(1, ordering: .relaxed)
            metrics.publishRefused()
            notify(pending.owner, event: "publish-refused", topic: will.topic, reason: "not authorized to publish the "
                + "will of client \(pending.clientID) on this topic")
            logger.notice(
                "will refused: not authorized to publish on its topic",
                metadata: ["client": "\(pending.clientID)", "principal": "\(pending.owner)", "topic": "\(will.topic)"])
            return
        }
        // A retained will counts as a retained PUBLISH would: wills were a way past the quota.
        if will.retain, retainRefusal(topic: will.topic, payloadBytes: will.payload.count, by: pending.owner) != nil {
            return
        }
        let message = BrokerMessage(
            topic: will.topic, payload: ByteBuffer(bytes: will.payload), qos: will.qos, retain: will.retain,
            precedence: Precedence.of(
                topic: will.topic, payload: ByteBuffer(bytes: will.payload), properties: will.properties,
                precedenceTopics: precedenceTopics),
            publisher: pending.owner, publisherClientID: pending.clientID, properties: will.properties.forwardable,
            expiresAt: will.properties.messageExpiryInterval.flatMap { $0 == 0 ? nil : clock() + Int64($0) * 1000 })
        // A will on a report topic is a report: judged by its mission's module like a PUBLISH.
        guard let interceptor, interceptor.claims(topic: will.topic) else { return accept(message) { _ in } }
        judge(message, by: interceptor, principal: pending.owner, refused: { _, _ in }, failed: nil) { [self] judged in
            accept(judged) { _ in }
        }
    }
}

extension Session {
    /// Takes the session's will, if any, to publish it.
    fileprivate func takeWill() -> [Broker.PendingWill] {
        defer {
            will = nil
            willAt = nil
            willCredentials = []
        }
        return will.map { [Broker.PendingWill(will: $0, owner: owner, clientID: clientID)] } ?? []
    }
}

extension Broker.State {
    /// Where messages on `topic` go (`SubscriptionTree.matches`, merged by session), from the cache when it
    /// has them.
    mutating func route(for topic: String) -> Broker.TopicRoute {
        if let cached = routeCache[topic] { return cached }
        var route = Broker.TopicRoute()
        var indexes: [ObjectIdentifier: Int] = [:]
        for match in subscriptions.matches(topic) {
            switch match.subscriber {
            case .shared(let filter):
                route.shared.append(filter)
            case .client(let clientID):
                guard let session = sessions[clientID] else { continue }
                let index = indexes[ObjectIdentifier(session)] ?? {
                    route.clients.append(Broker.TopicRoute.Client(session: session))
                    indexes[ObjectIdentifier(session)] = route.clients.count - 1
                    return route.clients.count - 1
                }()
                route.clients[index].merge(match.options)
            }
        }
        if routeCache.count >= Self.routeCacheLimit { routeCache.removeAll(keepingCapacity: true) }
        routeCache[topic] = route
        return route
    }

    /// The session `connection` holds. Packets a connection sent before a newer one took its session over may
    /// still reach the broker until it is closed; they must not change the session the newer one holds
    /// [MQTT-3.1.4-3] (a Clean Start session inherited the old connection's subscriptions and QoS 2 packet ids).
    func session(_ clientID: String, of connection: any BrokerConnection) -> Session? {
        guard let session = sessions[clientID], session.connection === connection else { return nil }
        return session
    }

    /// Adds a session (one of the same client id was removed first); routes cached before it did not know it.
    mutating func insert(_ session: Session) {
        routeCache.removeAll()
        session.count(in: tally)
        sessions[session.clientID] = session
    }

    /// Removes a session; cached routes may lead to it.
    mutating func removeSession(_ clientID: String) {
        routeCache.removeAll()
        sessions[clientID]?.count(in: nil)
        sessions[clientID] = nil
    }

    /// Adds a granted subscription to the tree (a shared one joins its group).
    mutating func insertSubscription(_ filter: String, clientID: String, _ subscription: Subscription) {
        routeCache.removeAll()
        if let shared = SharedSubscription(filter) {
            if sharedGroups[filter] == nil {
                subscriptions.insert(shared.filter, subscriber: .shared(filter), options: subscription)
            }
            if !(sharedGroups[filter]?.members.contains(ExactString(clientID)) ?? false) {
                sharedGroups[filter, default: Broker.SharedGroup()].members.append(ExactString(clientID))
            }
        } else {
            subscriptions.insert(filter, subscriber: .client(clientID), options: subscription)
        }
    }

    mutating func removeSubscription(_ filter: String, clientID: String, _ subscription: Subscription) {
        routeCache.removeAll()
        if let shared = SharedSubscription(filter) {
            sharedGroups[filter]?.members.removeAll { $0 == ExactString(clientID) }
            if sharedGroups[filter]?.members.isEmpty ?? false {
                sharedGroups[filter] = nil
                subscriptions.remove(shared.filter, subscriber: .shared(filter))
            }
        } else {
            subscriptions.remove(filter, subscriber: .client(clientID))
        }
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
    /// False for a session that ends with its connection (3.1.1 clean session, MQTT 5 Session Expiry Interval 0).
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
    /// The sessions, connected or kept for a persistent client, sorted by client id (by its bytes): the first
    /// `limit` of those after `cursor`, a page of the admin API's list.
    ///
    /// Only the client ids are copied under the broker's lock, which every message takes, and only the page's
    /// sessions are summarized: summarizing all of them, as each page once did, held the lock for milliseconds
    /// on a hub with thousands of sessions.
    public func sessionSummaries(after cursor: String? = nil, limit: Int = .max) -> [SessionSummary] {
        var clientIDs = state.withLock { $0.sessions.keys }
        if let cursor { clientIDs.removeAll { ExactString($0) <= ExactString(cursor) } }
        clientIDs.sort { ExactString($0) < ExactString($1) }
        return state.withLock { state in
            var page: [SessionSummary] = []
            // A session that ended since the ids were copied is left out, and the next one takes its place.
            for clientID in clientIDs {
                guard page.count < limit else { break }
                guard let session = state.sessions[clientID] else { continue }
                page.append(
                    SessionSummary(
                        clientID: session.clientID, principal: session.owner.description,
                        connected: session.connection != nil, persistent: session.isStored,
                        subscriptions: session.subscriptions.sorted { $0.key < $1.key }.map {
                            SessionSummary.Subscription(filter: $0.key, qos: Int($0.value.qos.rawValue))
                        },
                        queued: session.pendingCount, inflight: session.inflight.count))
            }
            return page
        }
    }

    /// Ends the session of `clientID`, connected or not, as an operator asks: its subscriptions, queue and stored
    /// state are discarded and its will is published, as at the end of any session; a connection is closed as
    /// the hub (an MQTT 5 client is told 0x98 Administrative action). The client id is then free, whoever held it.
    /// Returns false when there is no such session.
    public func endSession(clientID: String, reason: String) -> Bool {
        let (found, connection, wills, operations) = state.withLock {
            state -> (Bool, (any BrokerConnection)?, [PendingWill], [StoreOperation]) in
            guard let session = state.sessions[clientID] else { return (false, nil, [], []) }
            guard let connection = session.connection else {
                var operations: [StoreOperation] = []
                let wills = session.takeWill()
                drop(session, from: &state, operations: &operations)
                return (true, nil, wills, operations)
            }
            // A session without an expiry ends with its connection, which `disconnected` then sees to (the will,
            // the counts): only what is stored goes now.
            return (true, connection, [], resize(session, to: 0))
        }
        // Who ended whose session stays on record at the default level (the audit trail is the registry's).
        if found { logger.notice("session ended", metadata: ["client": "\(clientID)", "reason": "\(reason)"]) }
        for will in wills { publishWill(will) }
        commit(operations) { _ in }
        connection?.close(.administrativeAction, reason: reason)
        return found
    }
}
