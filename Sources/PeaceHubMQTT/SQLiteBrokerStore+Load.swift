import Foundation
import GRDB
import NIOCore
import PeaceHubCore

// One record type per table, read back by `load()`. Each decodes defensively: a row that does
// not make sense is a `badRow` error naming its table and key, never a crash.

/// Reads the columns of one row and names the table and key when something is wrong.
private struct RowReader {
    let table: String
    let row: Row
    var key: String

    init(table: String, row: Row, keyColumns: [String]) {
        self.table = table
        self.row = row
        key = keyColumns.map { column -> String in
            let value: DatabaseValue = row[column]
            return "\(column) \(value)"
        }.joined(separator: ", ")
    }

    func error(_ reason: String) -> BrokerStoreError {
        BrokerStoreError(.badRow, "\(table) row (\(key)): \(reason)")
    }

    func value<Value: DatabaseValueConvertible>(_ column: String, as type: Value.Type = Value.self) throws -> Value {
        let stored: DatabaseValue = row[column]
        guard let value = Value.fromDatabaseValue(stored) else {
            throw error("\(column) holds \(stored), not a valid \(Value.self)")
        }
        return value
    }

    func optional<Value: DatabaseValueConvertible>(_ column: String, as type: Value.Type = Value.self) throws -> Value?
    {
        let stored: DatabaseValue = row[column]
        if stored.isNull { return nil }
        return try value(column, as: Value.self)
    }

    func principal(_ column: String) throws -> Principal {
        let text = try value(column, as: String.self)
        guard let principal = Principal(storedForm: text) else {
            throw error("\(column) '\(text)' is neither contingent:<CODE> nor operator:<name>")
        }
        return principal
    }

    /// The column `properties`: the MQTT 5 properties of a `what` ("message", "will") in their wire form, none
    /// when NULL.
    func properties(_ context: PropertyContext, of what: String) throws -> MQTTProperties {
        guard let bytes = try optional("properties", as: Data.self) else { return [] }
        var wire = PacketReader(ByteBuffer(bytes: bytes), packet: "stored \(what)")
        do {
            return try wire.properties(context)
        } catch {
            throw self.error("properties are not MQTT 5 \(what) properties: \(error.reason)")
        }
    }

    func qos(_ column: String) throws -> QoS {
        let raw = try value(column, as: Int64.self)
        guard let qos = UInt8(exactly: raw).flatMap(QoS.init(rawValue:)) else {
            throw error("\(column) \(raw) is not 0, 1 or 2")
        }
        return qos
    }

    func flag(_ column: String) throws -> Bool {
        let raw = try value(column, as: Int64.self)
        guard raw == 0 || raw == 1 else { throw error("\(column) \(raw) is not 0 or 1") }
        return raw == 1
    }

    func unsigned(_ column: String) throws -> UInt64 {
        let raw = try value(column, as: Int64.self)
        guard let value = UInt64(exactly: raw) else { throw error("\(column) \(raw) is negative") }
        return value
    }

    func packetID(_ value: Int64, column: String) throws -> UInt16 {
        guard let id = UInt16(exactly: value), id != 0 else { throw error("\(column) \(value) is not in 1...65535") }
        return id
    }
}

struct SessionRecord: FetchableRecord, TableRecord {
    static let databaseTableName = "session"
    enum Columns {
        static let clientID = Column("clientID")
        static let owner = Column("owner")
    }

    var clientID: String
    var owner: Principal
    var expiryInterval: UInt32
    var expiresAt: Int64?

    init(row: Row) throws {
        let reader = RowReader(table: Self.databaseTableName, row: row, keyColumns: ["clientID"])
        clientID = try reader.value("clientID")
        owner = try reader.principal("owner")
        let interval = try reader.value("expiryInterval", as: Int64.self)
        guard let expiryInterval = UInt32(exactly: interval), expiryInterval > 0 else {
            throw reader.error("expiryInterval \(interval) is not in 1...4294967295")
        }
        self.expiryInterval = expiryInterval
        expiresAt = try reader.optional("expiresAt")
    }
}

struct SubscriptionRecord: FetchableRecord, TableRecord {
    static let databaseTableName = "subscription"
    enum Columns {
        static let clientID = Column("clientID")
        static let filter = Column("filter")
        static let qos = Column("qos")
    }

    var clientID: String
    var filter: String
    var subscription: Subscription

    init(row: Row) throws {
        let reader = RowReader(table: Self.databaseTableName, row: row, keyColumns: ["clientID", "filter"])
        clientID = try reader.value("clientID")
        filter = try reader.value("filter")
        let options = try reader.value("options", as: Int64.self)
        guard options & ~0x3c == 0, let retainHandling = MQTTPacket.RetainHandling(rawValue: UInt8(options >> 4)) else {
            throw reader.error("options \(options) is not a subscription options byte")
        }
        let identifier = try reader.optional("identifier", as: Int64.self)
        subscription = Subscription(
            options: MQTTPacket.SubscriptionOptions(
                qos: try reader.qos("qos"), noLocal: options & 0x04 != 0, retainAsPublished: options & 0x08 != 0,
                retainHandling: retainHandling),
            identifier: identifier.map(Int.init))
    }
}

/// A message body; its QoS and retain flag belong to each delivery or retained use.
struct MessageRecord: FetchableRecord, TableRecord {
    static let databaseTableName = "message"
    enum Columns {
        static let id = Column("id")
        static let topic = Column("topic")
        static let payload = Column("payload")
        static let precedence = Column("precedence")
        static let publisher = Column("publisher")
    }

    var id: UInt64
    var topic: String
    var payload: ByteBuffer
    var precedence: Precedence
    var publisher: Principal?
    var properties: MQTTProperties
    var expiresAt: Int64?

    init(row: Row) throws {
        let reader = RowReader(table: Self.databaseTableName, row: row, keyColumns: ["id"])
        id = try reader.unsigned("id")
        topic = try reader.value("topic")
        payload = ByteBuffer(bytes: try reader.value("payload", as: Data.self))
        let rawPrecedence = try reader.value("precedence", as: Int64.self)
        guard let precedence = Int32(exactly: rawPrecedence).flatMap(Precedence.init(rawValue:)) else {
            throw reader.error("precedence \(rawPrecedence) is not 1 (ROUTINE) to 4 (FLASH)")
        }
        self.precedence = precedence
        publisher = try reader.optional("publisher", as: String.self) == nil ? nil : try reader.principal("publisher")
        properties = try reader.properties(.publish, of: "message")
        expiresAt = try reader.optional("expiresAt")
    }

    func message(qos: QoS, retain: Bool) -> BrokerMessage {
        BrokerMessage(
            topic: topic, payload: payload, qos: qos, retain: retain, precedence: precedence, publisher: publisher,
            properties: properties, expiresAt: expiresAt)
    }
}

struct DeliveryRecord: FetchableRecord, TableRecord {
    static let databaseTableName = "delivery"
    enum Columns {
        static let clientID = Column("clientID")
        static let sequence = Column("sequence")
        static let messageID = Column("messageID")
        static let qos = Column("qos")
        static let retain = Column("retain")
        static let packetID = Column("packetID")
        static let stage = Column("stage")
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

    init(row: Row) throws {
        let reader = RowReader(table: Self.databaseTableName, row: row, keyColumns: ["clientID", "sequence"])
        let identifiers = try reader.optional("subscriptionIdentifiers", as: String.self) ?? ""
        subscriptionIdentifiers = try identifiers.split(separator: ",").map { text in
            guard let identifier = Int(text), identifier > 0 else {
                throw reader.error("subscriptionIdentifiers '\(identifiers)' is not a list of identifiers")
            }
            return identifier
        }
        clientID = try reader.value("clientID")
        sequence = try reader.unsigned("sequence")
        messageID = try reader.unsigned("messageID")
        qos = try reader.qos("qos")
        if let filter = try reader.optional("sharedFilter", as: String.self) {
            // Rows written before broker-v5 have no published QoS: the delivery's own, as those hubs passed on.
            let published = try reader.optional("sharedQoS", as: Int64.self) == nil ? qos : try reader.qos("sharedQoS")
            shared = SharedOrigin(filter: filter, publishedQoS: published)
        }
        retain = try reader.flag("retain")
        switch (try reader.optional("packetID", as: Int64.self), try reader.optional("stage", as: Int64.self)) {
        case (nil, nil):
            packetID = nil
            stage = nil
        case (let id?, let rawStage?):
            packetID = try reader.packetID(id, column: "packetID")
            guard let stage = UInt8(exactly: rawStage).flatMap(InflightStage.init(rawValue:)) else {
                throw reader.error("stage \(rawStage) is not 1, 2 or 3")
            }
            self.stage = stage
        default:
            throw reader.error("packetID and stage must be both set or both NULL")
        }
    }
}

struct InboundQoS2Record: FetchableRecord, TableRecord {
    static let databaseTableName = "inboundQoS2"
    enum Columns {
        static let clientID = Column("clientID")
        static let packetID = Column("packetID")
    }

    var clientID: String
    var packetID: UInt16

    init(row: Row) throws {
        let reader = RowReader(table: Self.databaseTableName, row: row, keyColumns: ["clientID", "packetID"])
        clientID = try reader.value("clientID")
        packetID = try reader.packetID(try reader.value("packetID"), column: "packetID")
    }
}

struct WillRecord: FetchableRecord, TableRecord {
    static let databaseTableName = "will"

    var clientID: String
    var will: StoredWill

    init(row: Row) throws {
        let reader = RowReader(table: Self.databaseTableName, row: row, keyColumns: ["clientID"])
        clientID = try reader.value("clientID")
        let will = MQTTPacket.Will(
            topic: try reader.value("topic"), payload: Array(try reader.value("payload", as: Data.self)),
            qos: try reader.qos("qos"), retain: try reader.flag("retain"),
            properties: try reader.properties(.will, of: "will"))
        let credentials = try reader.value("credentials", as: String.self)
        self.will = StoredWill(
            will: will, publishAt: try reader.value("publishAt"),
            credentials: credentials.isEmpty ? [] : credentials.split(separator: "\n").map(String.init))
    }
}

struct RetainedRecord: FetchableRecord, TableRecord {
    static let databaseTableName = "retained"
    enum Columns {
        static let topic = Column("topic")
        static let messageID = Column("messageID")
        static let qos = Column("qos")
        static let retain = Column("retain")
    }

    var topic: String
    var messageID: UInt64
    var qos: QoS
    var retain: Bool

    init(row: Row) throws {
        let reader = RowReader(table: Self.databaseTableName, row: row, keyColumns: ["topic"])
        topic = try reader.value("topic")
        messageID = try reader.unsigned("messageID")
        qos = try reader.qos("qos")
        retain = try reader.flag("retain")
    }
}

/// The one row holding the largest sequence and message id ever stored.
struct MetaRecord: FetchableRecord, TableRecord {
    static let databaseTableName = "meta"
    enum Columns {
        static let lastSequence = Column("lastSequence")
        static let lastMessageID = Column("lastMessageID")
    }

    var lastSequence: UInt64
    var lastMessageID: UInt64
    var lastAlive: Int64?

    init(row: Row) throws {
        let reader = RowReader(table: Self.databaseTableName, row: row, keyColumns: ["id"])
        lastSequence = try reader.unsigned("lastSequence")
        lastMessageID = try reader.unsigned("lastMessageID")
        lastAlive = row["lastAlive"]
    }
}

extension SQLiteBrokerStore {
    /// Reads every table and puts the broker state back together.
    static func loadState(_ db: Database) throws -> StoredBrokerState {
        guard let meta = try MetaRecord.fetchOne(db) else {
            throw BrokerStoreError(.badRow, "meta: the row with the largest ids is missing")
        }
        var state = StoredBrokerState(
            lastSequence: meta.lastSequence, lastMessageID: meta.lastMessageID, lastAlive: meta.lastAlive)

        var messages: [UInt64: MessageRecord] = [:]
        for record in try MessageRecord.fetchAll(db) {
            messages[record.id] = record
            state.lastMessageID = max(state.lastMessageID, record.id)
        }
        func message(_ id: UInt64, usedBy user: String) throws -> MessageRecord {
            guard let record = messages[id] else {
                throw BrokerStoreError(.badRow, "\(user) names message \(id), which is not stored")
            }
            return record
        }

        var sessions: [StoredSession] = []
        var indexes = ExactDictionary<Int>()
        for record in try SessionRecord.order(SessionRecord.Columns.clientID).fetchAll(db) {
            indexes[record.clientID] = sessions.count
            sessions.append(
                StoredSession(
                    clientID: record.clientID, owner: record.owner, expiryInterval: record.expiryInterval,
                    expiresAt: record.expiresAt))
        }
        func session(_ clientID: String, usedBy user: String) throws -> Int {
            guard let index = indexes[clientID] else {
                throw BrokerStoreError(.badRow, "\(user) belongs to client '\(clientID)', whose session is not stored")
            }
            return index
        }

        for record in try SubscriptionRecord.fetchAll(db) {
            let index = try session(record.clientID, usedBy: "subscription row (filter '\(record.filter)')")
            sessions[index].subscriptions[record.filter] = record.subscription
        }
        let deliveries = DeliveryRecord.order(DeliveryRecord.Columns.clientID, DeliveryRecord.Columns.sequence)
        for record in try deliveries.fetchAll(db) {
            let user = "delivery row (clientID '\(record.clientID)', sequence \(record.sequence))"
            let index = try session(record.clientID, usedBy: user)
            let body = try message(record.messageID, usedBy: user)
            sessions[index].deliveries.append(
                StoredDelivery(
                    sequence: record.sequence, messageID: record.messageID,
                    message: body.message(qos: record.qos, retain: record.retain),
                    subscriptionIdentifiers: record.subscriptionIdentifiers, shared: record.shared,
                    packetID: record.packetID, stage: record.stage))
            state.lastSequence = max(state.lastSequence, record.sequence)
        }
        for record in try InboundQoS2Record.fetchAll(db) {
            let index = try session(record.clientID, usedBy: "inboundQoS2 row (packetID \(record.packetID))")
            sessions[index].inboundQoS2.insert(record.packetID)
        }
        for record in try WillRecord.fetchAll(db) {
            let index = try session(record.clientID, usedBy: "will row")
            sessions[index].will = record.will
        }
        for record in try RetainedRecord.fetchAll(db) {
            let body = try message(record.messageID, usedBy: "retained row (topic '\(record.topic)')")
            state.retained[record.topic] = body.message(qos: record.qos, retain: record.retain)
        }
        state.sessions = sessions
        return state
    }
}
