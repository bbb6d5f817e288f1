import Foundation
import GRDB
import NIOCore
import PeaceHubCore
import SQLiteSupport

/// What a run of operations leaves for the end of its batch: the largest ids it stored and the
/// messages that may have lost their last use.
struct WriteEffects {
    var lastSequence: Int64 = 0
    var lastMessageID: Int64 = 0
    var unreferencedCandidates: Set<Int64> = []
    /// The message the last enqueue stored: a fan-out enqueues one message for each session in a row, and its
    /// body is inserted once. Not merged: a call applied alone starts without it, so a rolled-back call's insert
    /// is never counted on.
    var lastInsertedMessageID: Int64?

    mutating func merge(_ other: WriteEffects) {
        lastSequence = max(lastSequence, other.lastSequence)
        lastMessageID = max(lastMessageID, other.lastMessageID)
        unreferencedCandidates.formUnion(other.unreferencedCandidates)
    }
}

extension Principal {
    /// How a principal is stored: `contingent:KAZ` or `operator:name`.
    var storedForm: String {
        switch self {
        case .contingent(let code): "contingent:\(code)"
        case .operator(let name): "operator:\(name)"
        }
    }

    init?(storedForm: String) {
        if storedForm.hasPrefix("contingent:"), storedForm.count > "contingent:".count {
            self = .contingent(String(storedForm.dropFirst("contingent:".count)))
        } else if storedForm.hasPrefix("operator:"), storedForm.count > "operator:".count {
            self = .operator(String(storedForm.dropFirst("operator:".count)))
        } else {
            return nil
        }
    }
}

extension SQLiteBrokerStore {
    /// Applies one operation with cached statements.
    ///
    /// As in the broker's reference (`ManualStore` in the tests), an operation for a session that
    /// is not stored (a clean session, or one an earlier call deleted) or for a delivery that is
    /// not stored changes nothing. A constraint SQLite enforces (a sequence stored twice for one
    /// session, packet id 0) becomes an `invalidOperation` error that fails the call.
    static func apply(
        _ operation: StoreOperation, _ db: Database, _ effects: inout WriteEffects, skipping skipped: Set<DeliveryKey> = []
    ) throws {
        if !skipped.isEmpty {
            switch operation {
            case .enqueue(let clientID, let sequence, let messageID, _, _, _)
            where skipped.contains(DeliveryKey(clientID: clientID, sequence: sequence)):
                // Never written, but its ids are used: the stored largest ids still grow past them.
                effects.lastSequence = max(effects.lastSequence, Int64(clamping: sequence))
                effects.lastMessageID = max(effects.lastMessageID, Int64(clamping: messageID))
                return
            case .markInflight(let clientID, let sequence, _, _), .removeDelivery(let clientID, let sequence):
                if skipped.contains(DeliveryKey(clientID: clientID, sequence: sequence)) { return }
            default:
                break
            }
        }
        do {
            try applyUnchecked(operation, db, &effects)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            throw BrokerStoreError(.invalidOperation, "\(summary(of: operation)) was refused: \(describe(error))")
        }
    }

    private static func applyUnchecked(
        _ operation: StoreOperation, _ db: Database, _ effects: inout WriteEffects
    ) throws {
        switch operation {
        case .createSession(let clientID, let owner, let expiryInterval):
            try collectDeliveredMessages(of: clientID, db, &effects)
            try db.cachedStatement(sql: "DELETE FROM session WHERE clientID = ?").execute(arguments: [clientID])
            try db.cachedStatement(sql: "INSERT INTO session (clientID, owner, expiryInterval) VALUES (?, ?, ?)")
                .execute(arguments: [clientID, owner.storedForm, Int64(expiryInterval)])

        case .setSessionExpiry(let clientID, let expiryInterval, let expiresAt):
            try db.cachedStatement(sql: "UPDATE session SET expiryInterval = ?, expiresAt = ? WHERE clientID = ?")
                .execute(arguments: [Int64(expiryInterval), expiresAt, clientID])

        case .deleteSession(let clientID):
            try collectDeliveredMessages(of: clientID, db, &effects)
            try db.cachedStatement(sql: "DELETE FROM session WHERE clientID = ?").execute(arguments: [clientID])

        case .subscribe(let clientID, let filter, let subscription):
            try db.cachedStatement(
                sql: """
                    INSERT INTO subscription (clientID, filter, qos, options, identifier)
                    SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM session WHERE clientID = ?1)
                    ON CONFLICT (clientID, filter) DO UPDATE SET qos = excluded.qos, options = excluded.options,
                        identifier = excluded.identifier
                    """
            ).execute(arguments: [
                clientID, filter, Int64(subscription.qos.rawValue), Int64(subscription.options.byte & 0x3c),
                subscription.identifier.map { Int64($0) },
            ])

        case .unsubscribe(let clientID, let filter):
            try db.cachedStatement(sql: "DELETE FROM subscription WHERE clientID = ? AND filter = ?")
                .execute(arguments: [clientID, filter])

        case .enqueue(let clientID, let sequence, let messageID, let message, let subscriptionIdentifiers,
            let shared):
            let sequence = try storable(sequence, operation)
            let messageID = try storable(messageID, operation)
            if effects.lastInsertedMessageID != messageID {
                try insertMessage(messageID, message, db)
                effects.lastInsertedMessageID = messageID
            }
            let insert = try DirectStatement(
                """
                INSERT INTO delivery
                    (clientID, sequence, messageID, qos, retain, subscriptionIdentifiers, sharedFilter, sharedQoS)
                SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 WHERE EXISTS (SELECT 1 FROM session WHERE clientID = ?1)
                """, db)
            insert.bind(1, clientID)
            insert.bind(2, sequence)
            insert.bind(3, messageID)
            insert.bind(4, Int64(message.qos.rawValue))
            insert.bind(5, message.retain ? 1 : 0)
            let identifiers = subscriptionIdentifiers.isEmpty
                ? nil : subscriptionIdentifiers.map { String($0) }.joined(separator: ",")
            insert.bind(6, identifiers)
            insert.bind(7, shared?.filter)
            insert.bind(8, shared.map { Int64($0.publishedQoS.rawValue) })
            try insert.run()
            if db.changesCount == 0 { effects.unreferencedCandidates.insert(messageID) }
            effects.lastSequence = max(effects.lastSequence, sequence)
            effects.lastMessageID = max(effects.lastMessageID, messageID)

        case .markInflight(let clientID, let sequence, let packetID, let stage):
            let sequence = try storable(sequence, operation)
            let update = try DirectStatement(
                "UPDATE delivery SET packetID = ?, stage = ? WHERE clientID = ? AND sequence = ?", db)
            update.bind(1, Int64(packetID))
            update.bind(2, Int64(stage.rawValue))
            update.bind(3, clientID)
            update.bind(4, sequence)
            try update.run()

        case .removeDelivery(let clientID, let sequence):
            let sequence = try storable(sequence, operation)
            // Not `DELETE ... RETURNING`: SQLite builds a temporary table for every such statement.
            let select = try DirectStatement("SELECT messageID FROM delivery WHERE clientID = ? AND sequence = ?", db)
            select.bind(1, clientID)
            select.bind(2, sequence)
            guard let messageID = try select.run() else { return }
            effects.unreferencedCandidates.insert(messageID)
            let delete = try DirectStatement("DELETE FROM delivery WHERE clientID = ? AND sequence = ?", db)
            delete.bind(1, clientID)
            delete.bind(2, sequence)
            try delete.run()

        case .addInboundQoS2(let clientID, let packetID):
            try db.cachedStatement(
                sql: """
                    INSERT INTO inboundQoS2 (clientID, packetID)
                    SELECT ?1, ?2 WHERE EXISTS (SELECT 1 FROM session WHERE clientID = ?1)
                    ON CONFLICT DO NOTHING
                    """
            ).execute(arguments: [clientID, Int64(packetID)])

        case .removeInboundQoS2(let clientID, let packetID):
            try db.cachedStatement(sql: "DELETE FROM inboundQoS2 WHERE clientID = ? AND packetID = ?")
                .execute(arguments: [clientID, Int64(packetID)])

        case .recordAlive(let at):
            try db.cachedStatement(sql: "UPDATE meta SET lastAlive = max(coalesce(lastAlive, 0), ?)")
                .execute(arguments: [at])

        case .setWill(let clientID, let stored):
            try db.cachedStatement(sql: "DELETE FROM will WHERE clientID = ?").execute(arguments: [clientID])
            guard let stored else { break }
            try insertWill(clientID, stored, db)

        case .setRetained(let messageID, let message):
            let messageID = try storable(messageID, operation)
            let previous = try Int64.fetchOne(
                db.cachedStatement(sql: "SELECT messageID FROM retained WHERE topic = ?"), arguments: [message.topic])
            if let previous { effects.unreferencedCandidates.insert(previous) }
            if message.payload.readableBytes == 0 {
                try db.cachedStatement(sql: "DELETE FROM retained WHERE topic = ?").execute(arguments: [message.topic])
            } else {
                try insertMessage(messageID, message, db)
                try db.cachedStatement(
                    sql: """
                        INSERT INTO retained (topic, messageID, qos, retain) VALUES (?, ?, ?, ?)
                        ON CONFLICT (topic) DO UPDATE SET messageID = excluded.messageID, qos = excluded.qos,
                            retain = excluded.retain
                        """
                ).execute(arguments: [message.topic, messageID, Int64(message.qos.rawValue), message.retain])
            }
            effects.lastMessageID = max(effects.lastMessageID, messageID)
        }
    }

    /// Stores a message body once: a message id names one body, however many deliveries use it.
    private static func insertMessage(_ messageID: Int64, _ message: BrokerMessage, _ db: Database) throws {
        // `ifnull`: SQLite binds an empty blob as NULL.
        let insert = try DirectStatement(
            """
            INSERT INTO message (id, topic, payload, precedence, publisher, properties, expiresAt)
            VALUES (?, ?, ifnull(?, x''), ?, ?, ?, ?)
            ON CONFLICT (id) DO NOTHING
            """, db)
        insert.bind(1, messageID)
        insert.bind(2, message.topic)
        insert.bind(3, message.payload)
        insert.bind(4, Int64(message.precedence.rawValue))
        insert.bind(5, message.publisher?.storedForm)
        insert.bind(6, wireForm(message.properties))
        insert.bind(7, message.expiresAt)
        try insert.run()
    }

    /// Stores a session's delayed will (a session no longer stored takes none).
    private static func insertWill(_ clientID: String, _ stored: StoredWill, _ db: Database) throws {
        let will = stored.will
        // `ifnull`: SQLite binds an empty blob as NULL.
        let insert = try DirectStatement(
            """
            INSERT INTO will (clientID, topic, payload, qos, retain, properties, publishAt, credentials)
            SELECT ?1, ?2, ifnull(?3, x''), ?4, ?5, ?6, ?7, ?8 WHERE EXISTS (SELECT 1 FROM session WHERE clientID = ?1)
            """, db)
        insert.bind(1, clientID)
        insert.bind(2, will.topic)
        will.payload.withUnsafeBytes { insert.bind(3, $0) }
        insert.bind(4, Int64(will.qos.rawValue))
        insert.bind(5, Int64(will.retain ? 1 : 0))
        insert.bind(6, wireForm(will.properties))
        insert.bind(7, stored.publishAt)
        insert.bind(8, stored.credentials.joined(separator: "\n"))
        try insert.run()
    }

    /// MQTT 5 properties in their wire form (length first); nil, stored as NULL, when there are none.
    private static func wireForm(_ properties: MQTTProperties) -> ByteBuffer? {
        guard !properties.isEmpty else { return nil }
        var buffer = ByteBuffer()
        properties.write(to: &buffer)
        return buffer
    }

    /// Notes the messages a session's deliveries use before the session's rows go.
    private static func collectDeliveredMessages(
        of clientID: String, _ db: Database, _ effects: inout WriteEffects
    ) throws {
        let statement = try db.cachedStatement(sql: "SELECT DISTINCT messageID FROM delivery WHERE clientID = ?")
        let ids = try Int64.fetchCursor(statement, arguments: [clientID])
        while let id = try ids.next() { effects.unreferencedCandidates.insert(id) }
    }

    /// The end of a batch: deletes messages no delivery or retained topic uses any more, and
    /// raises the stored largest ids.
    static func finish(_ effects: WriteEffects, _ db: Database) throws {
        if !effects.unreferencedCandidates.isEmpty {
            let delete = try DirectStatement(
                """
                DELETE FROM message WHERE id = ?1
                    AND NOT EXISTS (SELECT 1 FROM delivery WHERE messageID = ?1)
                    AND NOT EXISTS (SELECT 1 FROM retained WHERE messageID = ?1)
                """, db)
            for id in effects.unreferencedCandidates {
                delete.bind(1, id)
                try delete.run()
            }
        }
        if effects.lastSequence > 0 || effects.lastMessageID > 0 {
            try db.cachedStatement(
                sql: "UPDATE meta SET lastSequence = max(lastSequence, ?), lastMessageID = max(lastMessageID, ?)"
            ).execute(arguments: [effects.lastSequence, effects.lastMessageID])
        }
    }

    /// SQLite integers are signed 64-bit; larger ids would break the ordering.
    private static func storable(_ value: UInt64, _ operation: StoreOperation) throws -> Int64 {
        guard let value = Int64(exactly: value) else {
            throw BrokerStoreError(
                .invalidOperation, "\(summary(of: operation)) was refused: \(value) exceeds 2^63 - 1")
        }
        return value
    }

    /// One line naming an operation and its keys, for errors.
    static func summary(of operation: StoreOperation) -> String {
        switch operation {
        case .createSession(let clientID, let owner, _): "createSession of client '\(clientID)' for \(owner)"
        case .setSessionExpiry(let clientID, _, _): "setSessionExpiry of client '\(clientID)'"
        case .deleteSession(let clientID): "deleteSession of client '\(clientID)'"
        case .subscribe(let clientID, let filter, _): "subscribe of client '\(clientID)' to '\(filter)'"
        case .unsubscribe(let clientID, let filter): "unsubscribe of client '\(clientID)' from '\(filter)'"
        case .enqueue(let clientID, let sequence, let messageID, _, _, _):
            "enqueue of message \(messageID) as sequence \(sequence) for client '\(clientID)'"
        case .markInflight(let clientID, let sequence, let packetID, _):
            "markInflight of sequence \(sequence) of client '\(clientID)' with packet id \(packetID)"
        case .removeDelivery(let clientID, let sequence):
            "removeDelivery of sequence \(sequence) of client '\(clientID)'"
        case .addInboundQoS2(let clientID, let packetID):
            "addInboundQoS2 of packet id \(packetID) for client '\(clientID)'"
        case .removeInboundQoS2(let clientID, let packetID):
            "removeInboundQoS2 of packet id \(packetID) for client '\(clientID)'"
        case .setRetained(let messageID, let message): "setRetained of message \(messageID) on '\(message.topic)'"
        case .recordAlive(let at): "recordAlive at \(at)"
        case .setWill(let clientID, let will):
            "setWill (\(will.map { "due at \($0.publishAt)" } ?? "none")) of client '\(clientID)'"
        }
    }
}

extension DirectStatement {
    /// A blob from a buffer's readable bytes, without a copy into `Data` first.
    func bind(_ index: Int32, _ buffer: ByteBuffer?) {
        guard let buffer else {
            bind(index, nil as UnsafeRawBufferPointer?)
            return
        }
        buffer.withUnsafeReadableBytes { bind(index, $0) }
    }
}
