import Dispatch
import Foundation
import GRDB
import Logging
import NIOCore
import PeaceHubCore
import PeaceHubTesting
import SQLiteSupport
import Synchronization
import Testing

@testable import PeaceHubMQTT

extension SQLiteBrokerStore {
    /// Commits and waits for the completion (the commit is durable when this returns).
    func committed(_ operations: [StoreOperation]) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            commit(operations) { continuation.resume(with: $0) }
        }
    }
}

/// A commit submitted at once (in call order) whose result is awaited later.
struct SubmittedCommit {
    private let results: AsyncStream<Result<Void, any Error>>

    init(_ store: SQLiteBrokerStore, _ operations: [StoreOperation]) {
        let (results, continuation) = AsyncStream.makeStream(of: Result<Void, any Error>.self)
        store.commit(operations) { result in
            continuation.yield(result)
            continuation.finish()
        }
        self.results = results
    }

    func result() async -> Result<Void, any Error> {
        for await result in results { return result }
        return .failure(CancellationError())
    }
}

extension DispatchGroup {
    /// Waits, without blocking a thread, until every `enter()` was matched by a `leave()`.
    func finished() async {
        await withCheckedContinuation { continuation in notify(queue: .global()) { continuation.resume() } }
    }
}

/// The order in which each caller's completions ran.
final class CompletionLog: Sendable {
    private let log: Mutex<[[UInt64]]>

    init(callers: Int) { log = Mutex(Array(repeating: [], count: callers)) }

    func append(_ sequence: UInt64, caller: Int) { log.withLock { $0[caller].append(sequence) } }

    var orders: [[UInt64]] { log.withLock { $0 } }
}

/// Holds the store's writer queue inside a completion until `open()`: calls submitted meanwhile
/// are all taken together, as one batch, when it opens.
final class WriterGate: Sendable {
    private let release = DispatchSemaphore(value: 0)

    private init() {}

    static func close(_ store: SQLiteBrokerStore) async -> WriterGate {
        let gate = WriterGate()
        await withCheckedContinuation { (held: CheckedContinuation<Void, Never>) in
            store.commit([]) { _ in
                held.resume()
                gate.release.wait()
            }
        }
        return gate
    }

    func open() { release.signal() }
}

/// A temporary folder with a store file in it, and ways to open it again and look at its rows.
struct StoreFixture {
    let directory: TemporaryDirectory
    var path: String { directory.path("broker.sqlite") }

    init() throws { directory = try TemporaryDirectory(prefix: "broker-store") }

    /// The size of the store's write-ahead log file.
    func walSize() throws -> Int {
        try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int ?? 0
    }

    /// A backlog in one commit, 3,000 queued messages of 4 KiB for one session: a WAL of about 12 MB.
    func commitBacklog(to store: SQLiteBrokerStore) async throws {
        try await store.committed([.createSession(clientID: "ind", owner: .contingent("IND"))])
        let body = String(repeating: "x", count: 4096)
        try await store.committed((1...3000).map { index in
            .enqueue(clientID: "ind", sequence: UInt64(index), messageID: UInt64(index), message: storedMessage(body))
        })
    }

    /// A store on the file. By default it waits for the locks of a store opened before it (whose last
    /// connection checkpoints the file as it closes) as long as `raw()` does: a loaded machine can stretch
    /// that past the hub's 5 s.
    func open(
        _ durability: SQLiteBrokerStore.Durability = .processCrash, batchDelay: Duration = .microseconds(500),
        busyTimeout: TimeInterval = 30
    ) throws -> SQLiteBrokerStore {
        try SQLiteBrokerStore(
            path: path, durability: durability, batchDelay: batchDelay, busyTimeout: busyTimeout,
            logger: Logger(label: "test.broker-store"))
    }

    /// Loads what a fresh store instance finds in the file (as after a restart).
    func reloaded() throws -> StoredBrokerState { try open().load() }

    /// A separate raw connection on the same file; it waits for the store's writer rather than
    /// failing with SQLITE_BUSY (a loaded machine can stretch a commit).
    func raw() throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.busyMode = .timeout(30)
        return try DatabaseQueue(path: path, configuration: configuration)
    }

    func count(_ table: String) throws -> Int {
        try raw().read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table)") ?? -1 }
    }
}

func storedMessage(
    _ text: String, topic: String = "missions/UNIFIL/chat/general", qos: QoS = .atLeastOnce, retain: Bool = false,
    precedence: Precedence = .routine, publisher: Principal? = .contingent("KAZ")
) -> BrokerMessage {
    BrokerMessage(
        topic: topic, payload: ByteBuffer(string: text), qos: qos, retain: retain, precedence: precedence,
        publisher: publisher)
}

@Suite struct SQLiteBrokerStoreTests {
    /// The store and its -wal and -shm files hold message contents: 0600 whatever the umask, also for files an
    /// earlier version left 0644 (the hub chmodded the main file after SQLite had made the -wal from its mode).
    @Test func theStoreFilesAreReadableByTheirOwnerOnly() async throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        let previous = umask(0o022)
        defer { umask(previous) }
        func modes() throws -> [Int] {
            try ["", "-wal", "-shm"].map { suffix in
                let attributes = try FileManager.default.attributesOfItem(atPath: fixture.path + suffix)
                return (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
            }
        }
        do {
            let store = try fixture.open()
            try await store.committed([.createSession(clientID: "kaz-1", owner: .contingent("KAZ"))])
            #expect(try modes() == [0o600, 0o600, 0o600])
        }
        for suffix in ["", "-wal", "-shm"] { chmod(fixture.path + suffix, 0o644) }
        let reopened = try fixture.open()
        try await reopened.committed([.createSession(clientID: "kaz-2", owner: .contingent("KAZ"))])
        #expect(try modes() == [0o600, 0o600, 0o600])
    }

    /// When the hub last ran survives in the file, only growing (schema v3).
    @Test func theLastAliveTimeRoundTripsThroughTheFile() async throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        do {
            let store = try fixture.open()
            #expect(try store.load().lastAlive == nil)
            try await store.committed([.recordAlive(at: 1_800_000_005_000)])
            try await store.committed([.recordAlive(at: 1_800_000_000_000)])
        }
        #expect(try fixture.reloaded().lastAlive == 1_800_000_005_000)
    }

    @Test func everyOperationRoundTripsThroughTheFile() async throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        let flash = storedMessage("contact", qos: .exactlyOnce, precedence: .flash)
        let hubNotice = storedMessage("", topic: "contingents/KAZ/notices", precedence: .priority, publisher: nil)
        let retainedA = storedMessage("a", topic: "hub/broadcast/a", retain: true, publisher: .operator("duty"))
        let retainedB = storedMessage("b", topic: "hub/broadcast/b", qos: .atMostOnce, retain: true)
        let retainedB2 = storedMessage("b2", topic: "hub/broadcast/b", qos: .exactlyOnce, retain: true)
        do {
            let store = try fixture.open()
            try await store.committed([
                .createSession(clientID: "kaz-1", owner: .contingent("KAZ")),
                .createSession(clientID: "ops", owner: .operator("duty")),
                .subscribe(clientID: "kaz-1", filter: "missions/+/chat/#", qos: .atLeastOnce),
                .subscribe(clientID: "kaz-1", filter: "hub/broadcast/#", qos: .atMostOnce),
                .subscribe(clientID: "kaz-1", filter: "contingents/KAZ/inbox", qos: .exactlyOnce),
            ])
            try await store.committed([
                .subscribe(clientID: "kaz-1", filter: "hub/broadcast/#", qos: .exactlyOnce),
                .unsubscribe(clientID: "kaz-1", filter: "contingents/KAZ/inbox"),
                .unsubscribe(clientID: "kaz-1", filter: "never/subscribed"),
                .enqueue(clientID: "kaz-1", sequence: 1, messageID: 1, message: flash),
                .enqueue(clientID: "kaz-1", sequence: 2, messageID: 2, message: hubNotice),
                .enqueue(clientID: "kaz-1", sequence: 3, messageID: 3, message: storedMessage("three")),
                .enqueue(clientID: "kaz-1", sequence: 4, messageID: 4, message: storedMessage("four")),
                .enqueue(clientID: "ops", sequence: 5, messageID: 1, message: flash),
                .markInflight(clientID: "kaz-1", sequence: 1, packetID: 7, stage: .awaitingPubrec),
                .markInflight(clientID: "kaz-1", sequence: 2, packetID: 8, stage: .awaitingPuback),
            ])
            try await store.committed([
                .markInflight(clientID: "kaz-1", sequence: 1, packetID: 7, stage: .awaitingPubcomp),
                .removeDelivery(clientID: "kaz-1", sequence: 3),
                .removeDelivery(clientID: "kaz-1", sequence: 99),
                .addInboundQoS2(clientID: "kaz-1", packetID: 11),
                .addInboundQoS2(clientID: "kaz-1", packetID: 12),
                .addInboundQoS2(clientID: "kaz-1", packetID: 12),
                .removeInboundQoS2(clientID: "kaz-1", packetID: 11),
                .addInboundQoS2(clientID: "ops", packetID: 65535),
                .setRetained(messageID: 6, message: retainedA),
                .setRetained(messageID: 7, message: retainedB),
                .setRetained(messageID: 8, message: retainedB2),
                .setRetained(messageID: 9, message: storedMessage("x", topic: "hub/broadcast/c", retain: true)),
                .setRetained(messageID: 10, message: storedMessage("", topic: "hub/broadcast/c", retain: true)),
            ])
            store.flush()
        }

        let expected = StoredBrokerState(
            sessions: [
                StoredSession(
                    clientID: "kaz-1", owner: .contingent("KAZ"),
                    subscriptions: ["missions/+/chat/#": .atLeastOnce, "hub/broadcast/#": .exactlyOnce],
                    deliveries: [
                        StoredDelivery(sequence: 1, messageID: 1, message: flash, packetID: 7, stage: .awaitingPubcomp),
                        StoredDelivery(
                            sequence: 2, messageID: 2, message: hubNotice, packetID: 8, stage: .awaitingPuback),
                        StoredDelivery(sequence: 4, messageID: 4, message: storedMessage("four")),
                    ],
                    inboundQoS2: [12]),
                StoredSession(
                    clientID: "ops", owner: .operator("duty"),
                    deliveries: [StoredDelivery(sequence: 5, messageID: 1, message: flash)], inboundQoS2: [65535]),
            ],
            retained: ["hub/broadcast/a": retainedA, "hub/broadcast/b": retainedB2],
            lastSequence: 5, lastMessageID: 10)
        #expect(try fixture.reloaded() == expected)
        // Message 3 (delivery removed), 7 (retained replaced) and 9 (retained cleared) are gone.
        #expect(try fixture.count("message") == 5)
    }

    /// A message is read once and shared by its deliveries, each of which keeps its own QoS and retain flag.
    @Test func deliveriesOfOneMessageKeepTheirOwnQoSAndRetainFlag() async throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        let published = storedMessage("contact", qos: .exactlyOnce)
        var downgraded = published
        downgraded.qos = .atMostOnce
        downgraded.retain = true
        do {
            let store = try fixture.open()
            try await store.committed([
                .createSession(clientID: "kaz-1", owner: .contingent("KAZ")),
                .createSession(clientID: "kaz-2", owner: .contingent("KAZ")),
                .enqueue(clientID: "kaz-1", sequence: 1, messageID: 1, message: published),
                .enqueue(clientID: "kaz-2", sequence: 2, messageID: 1, message: downgraded),
            ])
            store.flush()
        }
        let sessions = try fixture.reloaded().sessions
        #expect(sessions.map { $0.deliveries.map(\.message) } == [[published], [downgraded]])
        #expect(try fixture.count("message") == 1)
    }

    @Test func mqtt5StateRoundTripsThroughTheFile() async throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        var message = storedMessage("with properties", topic: "contingents/IND/inbox")
        message.properties = [
            .userProperty("precedence", "FLASH"), .contentType("application/json"), .userProperty("precedence", "x"),
            .responseTopic("contingents/KAZ/inbox"), .correlationData([0, 1, 255]), .payloadFormatIndicator(1),
        ]
        message.expiresAt = 1_800_000_060_000
        var retained = message
        retained.topic = "hub/broadcast/status"
        retained.retain = true
        let options = MQTTPacket.SubscriptionOptions(
            qos: .exactlyOnce, noLocal: true, retainAsPublished: true, retainHandling: .doNotSend)
        // Published at QoS 2, delivered at the message's QoS: the group's next member may be granted more.
        let shared = SharedOrigin(filter: "$share/ops/contingents/IND/#", publishedQoS: .exactlyOnce)
        do {
            let store = try fixture.open()
            try await store.committed([
                .createSession(clientID: "ind", owner: .contingent("IND"), expiryInterval: 300),
                .setSessionExpiry(clientID: "ind", expiryInterval: 600, expiresAt: 1_800_000_600_000),
                .subscribe(clientID: "ind", filter: "$share/ops/contingents/IND/#", subscription: .init(options: options, identifier: 42)),
                .enqueue(
                    clientID: "ind", sequence: 1, messageID: 1, message: message, subscriptionIdentifiers: [42, 7],
                    shared: shared),
                .setRetained(messageID: 2, message: retained),
            ])
            store.flush()
        }
        let expected = StoredBrokerState(
            sessions: [
                StoredSession(
                    clientID: "ind", owner: .contingent("IND"), expiryInterval: 600, expiresAt: 1_800_000_600_000,
                    subscriptions: ["$share/ops/contingents/IND/#": Subscription(options: options, identifier: 42)],
                    deliveries: [
                        StoredDelivery(
                            sequence: 1, messageID: 1, message: message, subscriptionIdentifiers: [42, 7],
                            shared: shared)
                    ])
            ],
            retained: ["hub/broadcast/status": retained], lastSequence: 1, lastMessageID: 2)
        #expect(try fixture.reloaded() == expected)
    }

    /// A store written by the 3.1.1-only hub opens with its data: sessions that never expire, plain
    /// subscriptions, messages without properties.
    @Test func aVersion1StoreIsMigratedWithItsData() throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        let database = try fixture.raw()
        try BrokerStoreSchema.migrator.migrate(database, upTo: "broker-v1")
        try database.write { db in
            try db.execute(
                sql: """
                    INSERT INTO session (clientID, owner) VALUES ('kaz', 'contingent:KAZ');
                    INSERT INTO subscription (clientID, filter, qos) VALUES ('kaz', 'contingents/KAZ/inbox', 1);
                    INSERT INTO message (id, topic, payload, precedence, publisher) VALUES (1, 't', x'6869', 4, NULL);
                    INSERT INTO delivery (clientID, sequence, messageID, qos, retain) VALUES ('kaz', 1, 1, 1, 0);
                    UPDATE meta SET lastSequence = 1, lastMessageID = 1;
                    """)
        }
        let expected = StoredBrokerState(
            sessions: [
                StoredSession(
                    clientID: "kaz", owner: .contingent("KAZ"), expiryInterval: .max,
                    subscriptions: ["contingents/KAZ/inbox": .atLeastOnce],
                    deliveries: [
                        StoredDelivery(
                            sequence: 1, messageID: 1,
                            message: storedMessage("hi", topic: "t", precedence: .flash, publisher: nil))
                    ])
            ],
            lastSequence: 1, lastMessageID: 1)
        #expect(try fixture.reloaded() == expected)
    }

    /// A QoS 1 delivery its subscriber acknowledged before the batch was written is never written: no message
    /// row, no delivery row, yet the stored largest ids grow past it.
    @Test func aDeliveryAcknowledgedWithinItsBatchIsNotWritten() async throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        do {
            let store = try fixture.open()
            try await store.committed([.createSession(clientID: "ind", owner: .contingent("IND"))])
            let gate = await WriterGate.close(store)
            let calls = [
                SubmittedCommit(store, [.enqueue(clientID: "ind", sequence: 7, messageID: 70, message: storedMessage("a"))]),
                SubmittedCommit(store, [.enqueue(clientID: "ind", sequence: 8, messageID: 71, message: storedMessage("b"))]),
                SubmittedCommit(store, [.markInflight(clientID: "ind", sequence: 7, packetID: 1, stage: .awaitingPuback)]),
                SubmittedCommit(store, [.removeDelivery(clientID: "ind", sequence: 7)]),
            ]
            gate.open()
            for call in calls {
                if case .failure(let error) = await call.result() { Issue.record("\(error)") }
            }
        }
        #expect(try fixture.count("message") == 1)
        let state = try fixture.reloaded()
        #expect(state.sessions.first?.deliveries.map(\.sequence) == [8])
        #expect(state.lastSequence == 8 && state.lastMessageID == 71)
    }

    /// A batch whose every enqueue its subscriber acknowledged within it, and that does nothing else, costs no
    /// transaction at all.
    @Test func aBatchOfAcknowledgedDeliveriesOnlyWritesNothing() async throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        let store = try fixture.open()
        try await store.committed([.createSession(clientID: "ind", owner: .contingent("IND"))])
        let gate = await WriterGate.close(store)
        let before = store.committedBatches
        let calls = [
            SubmittedCommit(store, [.enqueue(clientID: "ind", sequence: 7, messageID: 70, message: storedMessage("a"))]),
            SubmittedCommit(store, [.markInflight(clientID: "ind", sequence: 7, packetID: 1, stage: .awaitingPuback)]),
            SubmittedCommit(store, [.removeDelivery(clientID: "ind", sequence: 7)]),
        ]
        gate.open()
        for call in calls {
            if case .failure(let error) = await call.result() { Issue.record("\(error)") }
        }
        #expect(store.committedBatches == before)
        try await store.committed([.subscribe(clientID: "ind", filter: "t", qos: .atLeastOnce)])
        #expect(store.committedBatches == before + 1)
    }

    /// Commits never checkpoint (a checkpoint inside a commit held its acknowledgements); the checkpointer's own
    /// connection runs them, each to the end of the WAL, and nothing committed is lost by it.
    @Test func theWALIsCheckpointedBesideTheCommits() async throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        let store = try SQLiteBrokerStore(
            path: fixture.path, checkpointInterval: .milliseconds(20), logger: Logger(label: "test.broker-store"))
        #expect(try await store.database.read { try Int.fetchOne($0, sql: "PRAGMA wal_autocheckpoint") } == 0)
        try await store.committed([.createSession(clientID: "ind", owner: .contingent("IND"))])
        let before = store.checkpointer.completedCheckpoints
        try await store.committed([
            .enqueue(clientID: "ind", sequence: 1, messageID: 10, message: storedMessage("in the file"))
        ])
        for _ in 0..<500 where store.checkpointer.completedCheckpoints < before + 2 {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(store.checkpointer.completedCheckpoints >= before + 2)
        #expect(try fixture.reloaded().sessions.first?.deliveries.map(\.sequence) == [1])
    }

    /// The WAL is cut back once a checkpoint has emptied it: a backlog of queued messages left it at its peak (131
    /// MB beside a 66 MB database after a load test).
    @Test func theWALShrinksAfterABacklog() async throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        let store = try SQLiteBrokerStore(
            path: fixture.path, checkpointInterval: .milliseconds(20), logger: Logger(label: "test.broker-store"))
        try await fixture.commitBacklog(to: store)
        #expect(try fixture.walSize() > 2 * walSizeLimit)
        let before = store.checkpointer.completedCheckpoints
        for _ in 0..<500 where store.checkpointer.completedCheckpoints < before + 2 {
            try await Task.sleep(for: .milliseconds(10))
        }
        try await store.committed([.createSession(clientID: "kaz", owner: .contingent("KAZ"))])
        #expect(try fixture.walSize() <= walSizeLimit)
    }

    /// A WAL past its truncating size is emptied by the checkpoint itself: under a sustained burst no commit found
    /// the passive checkpoints complete, and the WAL grew with the burst (313 MB in six seconds).
    @Test func aLargeWALIsEmptiedWithoutWaitingForAPause() async throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        let store = try SQLiteBrokerStore(
            path: fixture.path, checkpointInterval: .milliseconds(20), walTruncatingSize: walSizeLimit,
            logger: Logger(label: "test.broker-store"))
        try await fixture.commitBacklog(to: store)
        // No commit follows: the passive checkpoints alone leave the file at its peak until one comes.
        for _ in 0..<500 where try fixture.walSize() > walSizeLimit {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(try fixture.walSize() <= walSizeLimit)
        #expect(try fixture.reloaded().sessions.first?.deliveries.count == 3000)
    }

    @Test func aBatchWaitsTheBatchDelayAfterItsFirstSubmission() async throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        do {
            let store = try fixture.open(batchDelay: .milliseconds(300))
            try await store.committed([.createSession(clientID: "ind", owner: .contingent("IND"))])
            // Without the delay both calls complete within a few milliseconds; a loaded machine only makes it later.
            let started = ContinuousClock.now
            let calls = [
                SubmittedCommit(store, [.enqueue(clientID: "ind", sequence: 1, messageID: 10, message: storedMessage("a"))]),
                SubmittedCommit(store, [.removeDelivery(clientID: "ind", sequence: 1)]),
            ]
            for call in calls {
                if case .failure(let error) = await call.result() { Issue.record("\(error)") }
            }
            #expect(ContinuousClock.now - started >= .milliseconds(300))
        }
        #expect(try fixture.count("message") == 0)
        #expect(try fixture.reloaded().sessions.first?.deliveries.isEmpty == true)
    }

    @Test func createSessionReplacesAndDeleteSessionCascades() async throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        let store = try fixture.open()
        let filled: [StoreOperation] = [
            .createSession(clientID: "c", owner: .contingent("FRA")),
            .subscribe(clientID: "c", filter: "a/#", qos: .atLeastOnce),
            .enqueue(clientID: "c", sequence: 1, messageID: 1, message: storedMessage("one")),
            .enqueue(clientID: "c", sequence: 2, messageID: 2, message: storedMessage("two")),
            .markInflight(clientID: "c", sequence: 1, packetID: 1, stage: .awaitingPuback),
            .addInboundQoS2(clientID: "c", packetID: 5),
        ]
        try await store.committed(filled)
        try await store.committed([.createSession(clientID: "c", owner: .contingent("ITA"))])
        #expect(try fixture.reloaded().sessions == [StoredSession(clientID: "c", owner: .contingent("ITA"))])
        #expect(try fixture.count("message") == 0)

        try await store.committed(filled)
        try await store.committed([.deleteSession(clientID: "c"), .deleteSession(clientID: "never-existed")])
        let state = try fixture.reloaded()
        #expect(state.sessions.isEmpty)
        for table in ["subscription", "delivery", "inboundQoS2", "message"] {
            #expect(try fixture.count(table) == 0, "\(table) still has rows")
        }
        #expect(state.lastSequence == 2 && state.lastMessageID == 2)
    }

    @Test func messageBodiesAreStoredOnceAndCollectedAfterTheirLastUse() async throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        let store = try fixture.open()
        let body = storedMessage("shared", qos: .exactlyOnce, precedence: .immediate)
        var asQoS1 = body
        asQoS1.qos = .atLeastOnce
        var asRetained = body
        asRetained.retain = true
        try await store.committed(
            ["s1", "s2", "s3"].map { .createSession(clientID: $0, owner: .contingent("KAZ")) } + [
                .enqueue(clientID: "s1", sequence: 1, messageID: 42, message: body),
                .enqueue(clientID: "s2", sequence: 1, messageID: 42, message: asQoS1),
                .enqueue(clientID: "s3", sequence: 1, messageID: 42, message: asRetained),
                .setRetained(messageID: 42, message: asRetained),
            ])
        #expect(try fixture.count("message") == 1)
        // Each delivery keeps its own QoS and retain flag over the one stored body.
        let loaded = try fixture.reloaded()
        #expect(loaded.sessions.map { $0.deliveries.map(\.message) } == [[body], [asQoS1], [asRetained]])
        #expect(loaded.retained == [body.topic: asRetained])

        try await store.committed([.removeDelivery(clientID: "s1", sequence: 1)])
        try await store.committed([.deleteSession(clientID: "s2")])
        try await store.committed([.createSession(clientID: "s3", owner: .contingent("KAZ"))])
        #expect(try fixture.count("message") == 1, "the retained message still uses the body")
        try await store.committed([.setRetained(messageID: 43, message: storedMessage("", topic: body.topic))])
        #expect(try fixture.count("message") == 0)
        let state = try fixture.reloaded()
        #expect(state.retained.isEmpty)
        #expect(state.lastMessageID == 43, "ids only grow, even when their rows are gone")
    }

    @Test func concurrentCallsAreGroupCommittedInOrderPerCaller() async throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        let store = try fixture.open()
        let callers = 4
        try await store.committed(
            (0..<callers).map { .createSession(clientID: "caller-\($0)", owner: .contingent("KAZ")) })

        /// Each caller commits `count` enqueues from its own thread, starting at `first`. Returns
        /// once every call is submitted, with a task giving the order each caller's completions ran in.
        func submitFromThreads(first: UInt64, count: UInt64) async -> Task<[[UInt64]], Never> {
            let completed = CompletionLog(callers: callers)
            let done = DispatchGroup()
            let submitted = DispatchGroup()
            for caller in 0..<callers {
                submitted.enter()
                Thread.detachNewThread {
                    for sequence in first..<(first + count) {
                        done.enter()
                        let operation = StoreOperation.enqueue(
                            clientID: "caller-\(caller)", sequence: sequence,
                            messageID: UInt64(caller) << 32 | sequence, message: storedMessage("\(sequence)"))
                        store.commit([operation]) { result in
                            if case .success = result { completed.append(sequence, caller: caller) }
                            done.leave()
                        }
                    }
                    submitted.leave()
                }
            }
            await submitted.finished()
            return Task {
                await done.finished()
                return completed.orders
            }
        }

        // Calls that arrive while the writer is busy are committed together, in one transaction.
        let gate = await WriterGate.close(store)
        let before = store.committedBatches
        let gated = await submitFromThreads(first: 1, count: 50)
        gate.open()
        #expect(await gated.value == Array(repeating: Array(1...50), count: callers))
        #expect(store.committedBatches - before == 1)

        // Without a gate: everything completes, in order per caller.
        let free = await submitFromThreads(first: 51, count: 200)
        #expect(await free.value == Array(repeating: Array(51...250), count: callers))

        let state = try fixture.reloaded()
        #expect(
            state.sessions.map { $0.deliveries.map(\.sequence) } == Array(repeating: Array(1...250), count: callers))
        #expect(state.lastSequence == 250)
    }

    @Test func aRefusedCallFailsAloneAndItsBatchCommits() async throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        let store = try fixture.open()
        try await store.committed([.createSession(clientID: "known", owner: .contingent("KAZ"))])
        let gate = await WriterGate.close(store)
        let before = store.committedBatches
        let first = SubmittedCommit(store, [.subscribe(clientID: "known", filter: "first", qos: .atLeastOnce)])
        // A broker bug: the same sequence twice for one session.
        let duplicate = SubmittedCommit(
            store,
            [
                .subscribe(clientID: "known", filter: "refused", qos: .atLeastOnce),
                .enqueue(clientID: "known", sequence: 7, messageID: 2, message: storedMessage("seven")),
                .enqueue(clientID: "known", sequence: 7, messageID: 3, message: storedMessage("seven again")),
            ])
        let zeroPacketID = SubmittedCommit(store, [.addInboundQoS2(clientID: "known", packetID: 0)])
        let last = SubmittedCommit(store, [.subscribe(clientID: "known", filter: "last", qos: .atLeastOnce)])
        gate.open()

        await #expect(throws: Never.self) { try await first.result().get() }
        await #expect(throws: Never.self) { try await last.result().get() }
        let duplicateError = try await #require(throws: BrokerStoreError.self) { try await duplicate.result().get() }
        #expect(duplicateError.code == .invalidOperation)
        #expect(duplicateError.reason.contains("sequence 7 for client 'known'"))
        let zeroError = try await #require(throws: BrokerStoreError.self) { try await zeroPacketID.result().get() }
        #expect(zeroError.code == .invalidOperation)
        #expect(store.committedBatches - before == 1)

        // Nothing of a refused call stays, not even its valid operations.
        let state = try fixture.reloaded()
        #expect(state.sessions.first?.subscriptions == ["first": .atLeastOnce, "last": .atLeastOnce])
        #expect(state.sessions.first?.deliveries.isEmpty == true)
        #expect(state.sessions.first?.inboundQoS2.isEmpty == true)
        #expect(state.lastSequence == 0 && state.lastMessageID == 0)
        #expect(try fixture.count("message") == 0)
    }

    /// A fan-out's message body is inserted once per run of enqueues; a call refused after it inserted a body must
    /// not leave a later call counting on that body (its delivery would name a message that is not there).
    @Test func aMessageARefusedCallInsertedIsInsertedAgainByTheNextCall() async throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        let store = try fixture.open()
        try await store.committed(["a", "b", "c"].map { .createSession(clientID: $0, owner: .contingent("KAZ")) })
        let gate = await WriterGate.close(store)
        let refused = SubmittedCommit(
            store,
            [
                .enqueue(clientID: "a", sequence: 1, messageID: 9, message: storedMessage("shared")),
                .enqueue(clientID: "a", sequence: 1, messageID: 9, message: storedMessage("shared")),
            ])
        let fanOut = SubmittedCommit(
            store,
            [
                .enqueue(clientID: "b", sequence: 2, messageID: 9, message: storedMessage("shared")),
                .enqueue(clientID: "c", sequence: 3, messageID: 9, message: storedMessage("shared")),
            ])
        gate.open()
        await #expect(throws: BrokerStoreError.self) { try await refused.result().get() }
        await #expect(throws: Never.self) { try await fanOut.result().get() }

        let state = try fixture.reloaded()
        let deliveries = state.sessions.sorted { $0.clientID < $1.clientID }.map { $0.deliveries.map(\.sequence) }
        #expect(deliveries == [[], [2], [3]])
        #expect(try fixture.count("message") == 1)
    }

    @Test func operationsOnWhatIsNotStoredChangeNothing() async throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        let store = try fixture.open()
        try await store.committed([.createSession(clientID: "known", owner: .contingent("KAZ"))])
        // A clean session is never stored, and a session deleted meanwhile lost its state.
        try await store.committed([
            .subscribe(clientID: "clean", filter: "a/#", qos: .atLeastOnce),
            .enqueue(clientID: "clean", sequence: 3, messageID: 4, message: storedMessage("for nobody")),
            .markInflight(clientID: "clean", sequence: 3, packetID: 1, stage: .awaitingPuback),
            .markInflight(clientID: "known", sequence: 3, packetID: 1, stage: .awaitingPuback),
            .addInboundQoS2(clientID: "clean", packetID: 9),
            .removeDelivery(clientID: "known", sequence: 3),
            .removeInboundQoS2(clientID: "clean", packetID: 9),
            .unsubscribe(clientID: "clean", filter: "a/#"),
            .deleteSession(clientID: "clean"),
        ])
        let state = try fixture.reloaded()
        #expect(state.sessions == [StoredSession(clientID: "known", owner: .contingent("KAZ"))])
        #expect(state.lastSequence == 3 && state.lastMessageID == 4, "ids handed out still count")
        #expect(try fixture.count("message") == 0)
    }

    @Test func aBatchThatCannotCommitFailsEveryCallAndLaterBatchesSucceed() async throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        let store = try fixture.open(busyTimeout: SQLiteBrokerStore.busyTimeout)
        try await store.committed([.createSession(clientID: "c", owner: .contingent("KAZ"))])

        // Another process (here: another connection) holds the file's write lock, as `sqlite3` with
        // an open transaction would.
        let gate = await WriterGate.close(store)
        var configuration = Configuration()
        configuration.allowsUnsafeTransactions = true
        let intruder = try DatabaseQueue(path: fixture.path, configuration: configuration)
        try await intruder.writeWithoutTransaction { db in try db.execute(sql: "BEGIN IMMEDIATE") }

        let one = SubmittedCommit(store, [.subscribe(clientID: "c", filter: "one", qos: .atLeastOnce)])
        let two = SubmittedCommit(store, [.subscribe(clientID: "c", filter: "two", qos: .atLeastOnce)])
        gate.open()
        for submitted in [one, two] {
            let error = try await #require(throws: BrokerStoreError.self) { try await submitted.result().get() }
            #expect(error.code == .writeFailed)
            #expect(error.reason.contains(fixture.path))
        }

        try await intruder.writeWithoutTransaction { db in try db.execute(sql: "ROLLBACK") }
        try await store.committed([.subscribe(clientID: "c", filter: "three", qos: .atLeastOnce)])
        #expect(try fixture.reloaded().sessions.first?.subscriptions == ["three": .atLeastOnce])
    }

    @Test(arguments: [SQLiteBrokerStore.Durability.processCrash, .powerLoss])
    func durabilitySetsWALAndSynchronous(durability: SQLiteBrokerStore.Durability) throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        let store = try fixture.open(durability)
        let (journal, synchronous) = try store.database.read { db in
            (try String.fetchOne(db, sql: "PRAGMA journal_mode"), try Int.fetchOne(db, sql: "PRAGMA synchronous"))
        }
        #expect(journal == "wal")
        // 1 is NORMAL, 2 is FULL.
        #expect(synchronous == (durability == .powerLoss ? 2 : 1))
    }

    @Test func aCorruptFileIsRefusedByName() throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        try Data(repeating: 0x5A, count: 8192).write(to: URL(fileURLWithPath: fixture.path))
        let error = try #require(throws: BrokerStoreError.self) { try fixture.open() }
        #expect(error.code == .cannotOpen)
        #expect(error.reason.contains(fixture.path))
    }

    /// A disconnected session's delayed will survives in the file with its properties and its client's
    /// certificates (schema v6); nil deletes it, and it goes with its session.
    @Test func aDelayedWillRoundTripsThroughTheFile() async throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        let store = try fixture.open()
        let will = StoredWill(
            will: MQTTPacket.Will(
                topic: "status/kaz", payload: Array("gone\u{0}".utf8), qos: .atLeastOnce, retain: true,
                properties: [.willDelayInterval(30), .contentType("text/plain"), .userProperty("why", "network")]),
            publishAt: 1_800_000_030_000, credentials: ["issuer:1A", "root:7"])
        let empty = StoredWill(
            will: MQTTPacket.Will(topic: "status/ind", payload: [], qos: .atMostOnce, retain: false),
            publishAt: 1_800_000_001_000, credentials: [])
        try await store.committed([
            .createSession(clientID: "kaz", owner: .contingent("KAZ"), expiryInterval: 60),
            .createSession(clientID: "ind", owner: .contingent("IND"), expiryInterval: 60),
            .setWill(clientID: "kaz", will: will), .setWill(clientID: "ind", will: empty),
            .setWill(clientID: "never-stored", will: will),
        ])
        var sessions = try fixture.reloaded().sessions
        #expect(sessions.first { $0.clientID == "kaz" }?.will == will)
        #expect(sessions.first { $0.clientID == "ind" }?.will == empty)
        #expect(try fixture.count("will") == 2)

        try await store.committed([.setWill(clientID: "ind", will: nil), .deleteSession(clientID: "kaz")])
        sessions = try fixture.reloaded().sessions
        #expect(sessions.map(\.clientID) == ["ind"] && sessions.first?.will == nil)
        #expect(try fixture.count("will") == 0)
    }

    @Test func aNewerSchemaIsRefusedByName() throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        _ = try fixture.open()
        try fixture.raw().write { db in
            try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('broker-v99')")
        }
        let error = try #require(throws: BrokerStoreError.self) { try fixture.open() }
        #expect(error.code == .schemaTooNew)
        #expect(error.reason.contains(fixture.path) && error.reason.contains("broker-v99"))
    }

    @Test func anotherDatabaseIsNotTakenForAStore() throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        try fixture.raw().write { db in try db.execute(sql: "CREATE TABLE person (id INTEGER PRIMARY KEY)") }
        let error = try #require(throws: BrokerStoreError.self) { try fixture.open() }
        #expect(error.code == .cannotOpen)
        #expect(error.reason.contains("is not a PeaceHub broker store"))
    }

    @Test func badRowsAreErrorsOfLoadNamingTableAndKey() async throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        let store = try fixture.open()
        try await store.committed([
            .createSession(clientID: "c", owner: .contingent("KAZ")),
            .enqueue(clientID: "c", sequence: 3, messageID: 1, message: storedMessage("m")),
        ])
        store.flush()

        try await fixture.raw().write { db in try db.execute(sql: "UPDATE session SET owner = 'nobody'") }
        var error = try #require(throws: BrokerStoreError.self) { try store.load() }
        #expect(error.code == .badRow)
        #expect(error.reason.contains("session row (clientID \"c\")") && error.reason.contains("'nobody'"))

        try await fixture.raw().writeWithoutTransaction { db in
            try db.execute(sql: "UPDATE session SET owner = 'contingent:KAZ'")
            try db.execute(sql: "PRAGMA ignore_check_constraints = ON")
            try db.execute(sql: "UPDATE delivery SET qos = 7")
        }
        error = try #require(throws: BrokerStoreError.self) { try store.load() }
        #expect(error.reason.contains("delivery row (clientID \"c\", sequence 3)") && error.reason.contains("qos 7"))
    }

    @Test func flushWaitsForEverythingSubmitted() async throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        let store = try fixture.open()
        let completed = Atomic<Int>(0)
        store.commit([.createSession(clientID: "c", owner: .contingent("KAZ"))]) { _ in
            completed.add(1, ordering: .relaxed)
        }
        for sequence in 1...100 as ClosedRange<UInt64> {
            store.commit([.enqueue(clientID: "c", sequence: sequence, messageID: sequence, message: storedMessage("m"))]
            ) { _ in
                completed.add(1, ordering: .relaxed)
            }
        }
        store.flush()
        #expect(completed.load(ordering: .relaxed) == 101)
        #expect(try fixture.reloaded().sessions.first?.deliveries.count == 100)
    }

    @Test func flushFromACompletionCommitsWhatIsQueuedInsteadOfDeadlocking() async throws {
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        let store = try fixture.open()
        let laterCompleted = Atomic<Bool>(false)
        let sawLater = await withCheckedContinuation { continuation in
            store.commit([.createSession(clientID: "c", owner: .contingent("KAZ"))]) { _ in
                store.commit([.subscribe(clientID: "c", filter: "later", qos: .atLeastOnce)]) { result in
                    if case .success = result { laterCompleted.store(true, ordering: .relaxed) }
                }
                store.flush()
                continuation.resume(returning: laterCompleted.load(ordering: .relaxed))
            }
        }
        #expect(sawLater)
        #expect(try fixture.reloaded().sessions.first?.subscriptions == ["later": .atLeastOnce])
    }
}

extension Subscription {
    /// Plain 3.1.1 subscriptions, for expectations on what was stored.
    static let atMostOnce = Subscription(options: .init(qos: .atMostOnce))
    static let atLeastOnce = Subscription(options: .init(qos: .atLeastOnce))
    static let exactlyOnce = Subscription(options: .init(qos: .exactlyOnce))
}
