import GRDB
import NIOCore
import PeaceHubCore
import SQLiteSupport

// One record type per table, read back by `load()` through `DirectStatement`, column by position. Each decodes
// defensively: a row that does not make sense is a `badRow` error naming its table and key, never a crash.

/// The columns a record reads, in the order its query selects them (the case names are the column names).
private protocol StoredColumn: CaseIterable, RawRepresentable<Int32> {}

extension StoredColumn {
    /// `SELECT <the columns> FROM table`, then `rest` (an `ORDER BY`).
    static func query(_ table: String, _ rest: String = "") -> String {
        "SELECT \(allCases.map { "\"\($0)\"" }.joined(separator: ", ")) FROM \"\(table)\" \(rest)"
    }
}

/// Reads the columns of the current row and names the table, the key and the column when something is wrong.
private struct RowReader<Column: StoredColumn> {
    let table: String
    let rows: DirectStatement
    let key: [Column]

    func error(_ reason: String) -> BrokerStoreError {
        let key = key.map { "\($0) \(rows.describe($0.rawValue))" }.joined(separator: ", ")
        return BrokerStoreError(.badRow, "\(table) row (\(key)): \(reason)")
    }

    private func mismatch(_ column: Column, _ expected: String) -> BrokerStoreError {
        error("\(column) holds \(rows.describe(column.rawValue)), not \(expected)")
    }

    func isNull(_ column: Column) -> Bool { rows.isNull(column.rawValue) }

    func integer(_ column: Column) throws -> Int64 {
        guard let value = rows.integer(column.rawValue) else { throw mismatch(column, "an integer") }
        return value
    }

    func text(_ column: Column) throws -> String {
        guard let value = rows.text(column.rawValue) else { throw mismatch(column, "a text") }
        return value
    }

    func bytes(_ column: Column) throws -> ByteBuffer {
        guard let value = rows.blob(column.rawValue, { ByteBuffer(bytes: $0) }) else {
            throw mismatch(column, "a BLOB")
        }
        return value
    }

    func optionalInteger(_ column: Column) throws -> Int64? { isNull(column) ? nil : try integer(column) }
    func optionalText(_ column: Column) throws -> String? { isNull(column) ? nil : try text(column) }

    func principal(_ column: Column) throws -> Principal {
        let text = try text(column)
        guard let principal = Principal(storedForm: text) else {
            throw error("\(column) '\(text)' is neither contingent:<CODE> nor operator:<name>")
        }
        return principal
    }

    /// The MQTT 5 properties of a `what` ("message", "will") in their wire form, none when NULL.
    func properties(_ column: Column, _ context: PropertyContext, of what: String) throws -> MQTTProperties {
        if isNull(column) { return [] }
        var wire = PacketReader(try bytes(column), packet: "stored \(what)")
        do {
            return try wire.properties(context)
        } catch {
            throw self.error("\(column) are not MQTT 5 \(what) properties: \(error.reason)")
        }
    }

    func qos(_ column: Column) throws -> QoS {
        let raw = try integer(column)
        guard let qos = UInt8(exactly: raw).flatMap(QoS.init(rawValue:)) else {
            throw error("\(column) \(raw) is not 0, 1 or 2")
        }
        return qos
    }

    func flag(_ column: Column) throws -> Bool {
        let raw = try integer(column)
        guard raw == 0 || raw == 1 else { throw error("\(column) \(raw) is not 0 or 1") }
        return raw == 1
    }

    func unsigned(_ column: Column) throws -> UInt64 {
        let raw = try integer(column)
        guard let value = UInt64(exactly: raw) else { throw error("\(column) \(raw) is negative") }
        return value
    }

    func packetID(_ column: Column) throws -> UInt16 {
        let raw = try integer(column)
        guard let id = UInt16(exactly: raw), id != 0 else { throw error("\(column) \(raw) is not in 1...65535") }
        return id
    }
}

extension DirectStatement {
    /// Reads every row of `table` into a record.
    fileprivate static func records<Column: StoredColumn, Record>(
        of table: String, key: [Column], _ rest: String = "", in db: Database,
        _ record: (RowReader<Column>) throws -> Record
    ) throws -> [Record] {
        let rows = try DirectStatement(Column.query(table, rest), db)
        // A bad row stops the reading: the cached statement must not stay on it.
        defer { rows.reset() }
        let reader = RowReader(table: table, rows: rows, key: key)
        var records: [Record] = []
        while try rows.next() { records.append(try record(reader)) }
        return records
    }
}

private struct SessionRecord {
    enum Column: Int32, StoredColumn { case clientID, owner, expiryInterval, expiresAt }

    var clientID: String
    var owner: Principal
    var expiryInterval: UInt32
    var expiresAt: Int64?

    init(_ row: RowReader<Column>) throws {
        clientID = try row.text(.clientID)
        owner = try row.principal(.owner)
        let interval = try row.integer(.expiryInterval)
        guard let expiryInterval = UInt32(exactly: interval), expiryInterval > 0 else {
            throw row.error("expiryInterval \(interval) is not in 1...4294967295")
        }
        self.expiryInterval = expiryInterval
        expiresAt = try row.optionalInteger(.expiresAt)
    }
}

private struct SubscriptionRecord {
    enum Column: Int32, StoredColumn { case clientID, filter, qos, options, identifier }

    var clientID: String
    var filter: String
    var subscription: Subscription

    init(_ row: RowReader<Column>) throws {
        clientID = try row.text(.clientID)
        filter = try row.text(.filter)
        let options = try row.integer(.options)
        guard options & ~0x3c == 0, let retainHandling = MQTTPacket.RetainHandling(rawValue: UInt8(options >> 4)) else {
            throw row.error("options \(options) is not a subscription options byte")
        }
        let identifier = try row.optionalInteger(.identifier)
        subscription = Subscription(
            options: MQTTPacket.SubscriptionOptions(
                qos: try row.qos(.qos), noLocal: options & 0x04 != 0, retainAsPublished: options & 0x08 != 0,
                retainHandling: retainHandling),
            identifier: identifier.map(Int.init))
    }
}

/// A message body, kept as the message its deliveries and retained uses share: each sets its own QoS and retain
/// flag, which a `BrokerMessage` holds beside its shared storage.
private struct MessageRecord {
    enum Column: Int32, StoredColumn { case id, topic, payload, precedence, publisher, properties, expiresAt }

    var id: UInt64
    var message: BrokerMessage

    init(_ row: RowReader<Column>) throws {
        id = try row.unsigned(.id)
        let rawPrecedence = try row.integer(.precedence)
        guard let precedence = Int32(exactly: rawPrecedence).flatMap(Precedence.init(rawValue:)) else {
            throw row.error("precedence \(rawPrecedence) is not 1 (ROUTINE) to 4 (FLASH)")
        }
        message = BrokerMessage(
            topic: try row.text(.topic), payload: try row.bytes(.payload), qos: .atMostOnce, retain: false,
            precedence: precedence, publisher: row.isNull(.publisher) ? nil : try row.principal(.publisher),
            properties: try row.properties(.properties, .publish, of: "message"),
            expiresAt: try row.optionalInteger(.expiresAt))
    }
}

private struct DeliveryRecord {
    enum Column: Int32, StoredColumn {
        case clientID, sequence, messageID, qos, retain, packetID, stage, subscriptionIdentifiers, sharedFilter
        case sharedQoS
    }

    var clientID: String
    var sequence: UInt64
    var messageID: UInt64
    var qos: QoS
    var retain: Bool
    var packetID: UInt16?
    var stage: InflightStage?
    var subscriptionIdentifiers: [Int]
    var shared: SharedOrigin?

    init(_ row: RowReader<Column>) throws {
        let identifiers = try row.optionalText(.subscriptionIdentifiers) ?? ""
        subscriptionIdentifiers = try identifiers.split(separator: ",").map { text in
            guard let identifier = Int(text), identifier > 0 else {
                throw row.error("subscriptionIdentifiers '\(identifiers)' is not a list of identifiers")
            }
            return identifier
        }
        clientID = try row.text(.clientID)
        sequence = try row.unsigned(.sequence)
        messageID = try row.unsigned(.messageID)
        qos = try row.qos(.qos)
        if let filter = try row.optionalText(.sharedFilter) {
            // Rows written before broker-v5 have no published QoS: the delivery's own, as those hubs passed on.
            let published = row.isNull(.sharedQoS) ? qos : try row.qos(.sharedQoS)
            shared = SharedOrigin(filter: filter, publishedQoS: published)
        }
        retain = try row.flag(.retain)
        switch (row.isNull(.packetID), row.isNull(.stage)) {
        case (true, true):
            packetID = nil
            stage = nil
        case (false, false):
            packetID = try row.packetID(.packetID)
            let rawStage = try row.integer(.stage)
            guard let stage = UInt8(exactly: rawStage).flatMap(InflightStage.init(rawValue:)) else {
                throw row.error("stage \(rawStage) is not 1, 2 or 3")
            }
            self.stage = stage
        default:
            throw row.error("packetID and stage must be both set or both NULL")
        }
    }
}

private struct InboundQoS2Record {
    enum Column: Int32, StoredColumn { case clientID, packetID }

    var clientID: String
    var packetID: UInt16

    init(_ row: RowReader<Column>) throws {
        clientID = try row.text(.clientID)
        packetID = try row.packetID(.packetID)
    }
}

private struct WillRecord {
    enum Column: Int32, StoredColumn { case clientID, topic, payload, qos, retain, properties, publishAt, credentials }

    var clientID: String
    var will: StoredWill

    init(_ row: RowReader<Column>) throws {
        clientID = try row.text(.clientID)
        let will = MQTTPacket.Will(
            topic: try row.text(.topic), payload: Array(buffer: try row.bytes(.payload)), qos: try row.qos(.qos),
            retain: try row.flag(.retain), properties: try row.properties(.properties, .will, of: "will"))
        let credentials = try row.text(.credentials)
        self.will = StoredWill(
            will: will, publishAt: try row.integer(.publishAt),
            credentials: credentials.isEmpty ? [] : credentials.split(separator: "\n").map(String.init))
    }
}

private struct RetainedRecord {
    enum Column: Int32, StoredColumn { case topic, messageID, qos, retain }

    var topic: String
    var messageID: UInt64
    var qos: QoS
    var retain: Bool

    init(_ row: RowReader<Column>) throws {
        topic = try row.text(.topic)
        messageID = try row.unsigned(.messageID)
        qos = try row.qos(.qos)
        retain = try row.flag(.retain)
    }
}

/// The one row holding the largest sequence and message id ever stored.
private struct MetaRecord {
    enum Column: Int32, StoredColumn { case id, lastSequence, lastMessageID, lastAlive }

    var lastSequence: UInt64
    var lastMessageID: UInt64
    var lastAlive: Int64?

    init(_ row: RowReader<Column>) throws {
        lastSequence = try row.unsigned(.lastSequence)
        lastMessageID = try row.unsigned(.lastMessageID)
        lastAlive = try row.optionalInteger(.lastAlive)
    }
}

extension SQLiteBrokerStore {
    /// Reads every table and puts the broker state back together.
    static func loadState(_ db: Database) throws -> StoredBrokerState {
        guard let meta = try DirectStatement.records(of: "meta", key: [.id], in: db, MetaRecord.init).first else {
            throw BrokerStoreError(.badRow, "meta: the row with the largest ids is missing")
        }
        var state = StoredBrokerState(
            lastSequence: meta.lastSequence, lastMessageID: meta.lastMessageID, lastAlive: meta.lastAlive)

        var messages: [UInt64: BrokerMessage] = [:]
        for record in try DirectStatement.records(of: "message", key: [.id], in: db, MessageRecord.init) {
            messages[record.id] = record.message
            state.lastMessageID = max(state.lastMessageID, record.id)
        }
        func message(_ id: UInt64, qos: QoS, retain: Bool, usedBy user: @autoclosure () -> String) throws
            -> BrokerMessage
        {
            guard var message = messages[id] else {
                throw BrokerStoreError(.badRow, "\(user()) names message \(id), which is not stored")
            }
            message.qos = qos
            message.retain = retain
            return message
        }

        var sessions: [StoredSession] = []
        var indexes = ExactDictionary<Int>()
        let sessionRecords = try DirectStatement.records(
            of: "session", key: [.clientID], "ORDER BY clientID", in: db, SessionRecord.init)
        for record in sessionRecords {
            indexes[record.clientID] = sessions.count
            sessions.append(
                StoredSession(
                    clientID: record.clientID, owner: record.owner, expiryInterval: record.expiryInterval,
                    expiresAt: record.expiresAt))
        }
        func session(_ clientID: String, usedBy user: @autoclosure () -> String) throws -> Int {
            guard let index = indexes[clientID] else {
                throw BrokerStoreError(
                    .badRow, "\(user()) belongs to client '\(clientID)', whose session is not stored")
            }
            return index
        }

        let subscriptions = try DirectStatement.records(
            of: "subscription", key: [.clientID, .filter], in: db, SubscriptionRecord.init)
        for record in subscriptions {
            let index = try session(record.clientID, usedBy: "subscription row (filter '\(record.filter)')")
            sessions[index].subscriptions[record.filter] = record.subscription
        }
        let deliveries = try DirectStatement.records(
            of: "delivery", key: [.clientID, .sequence], "ORDER BY clientID, sequence", in: db, DeliveryRecord.init)
        for record in deliveries {
            func user() -> String { "delivery row (clientID '\(record.clientID)', sequence \(record.sequence))" }
            let index = try session(record.clientID, usedBy: user())
            sessions[index].deliveries.append(
                StoredDelivery(
                    sequence: record.sequence, messageID: record.messageID,
                    message: try message(record.messageID, qos: record.qos, retain: record.retain, usedBy: user()),
                    subscriptionIdentifiers: record.subscriptionIdentifiers, shared: record.shared,
                    packetID: record.packetID, stage: record.stage))
            state.lastSequence = max(state.lastSequence, record.sequence)
        }
        let inbound = try DirectStatement.records(
            of: "inboundQoS2", key: [.clientID, .packetID], in: db, InboundQoS2Record.init)
        for record in inbound {
            let index = try session(record.clientID, usedBy: "inboundQoS2 row (packetID \(record.packetID))")
            sessions[index].inboundQoS2.insert(record.packetID)
        }
        for record in try DirectStatement.records(of: "will", key: [.clientID], in: db, WillRecord.init) {
            let index = try session(record.clientID, usedBy: "will row")
            sessions[index].will = record.will
        }
        for record in try DirectStatement.records(of: "retained", key: [.topic], in: db, RetainedRecord.init) {
            state.retained[record.topic] = try message(
                record.messageID, qos: record.qos, retain: record.retain,
                usedBy: "retained row (topic '\(record.topic)')")
        }
        state.sessions = sessions
        return state
    }
}
