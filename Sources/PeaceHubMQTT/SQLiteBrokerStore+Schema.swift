import GRDB

/// The broker store's schema: append-only, versioned migrations. Never edit a shipped migration;
/// add a new one at the end of `versions`.
///
/// Tables are STRICT, so SQLite itself refuses a value of the wrong type. Checks are ranges, not
/// `IN` lists: SQLite builds a temporary table for an `IN` list on every insert. A message body is
/// stored once in `message` however many sessions it waits for; a `delivery` row carries what
/// differs per session (QoS, retain flag, in-flight state). A message row is deleted when its
/// last delivery and its retained use are gone.
enum BrokerStoreSchema {
    /// The migration identifiers, oldest first. The `broker-` prefix tells a broker store from
    /// another GRDB database (the registry) given by mistake.
    static let versions = ["broker-v1", "broker-v2", "broker-v3", "broker-v4", "broker-v5", "broker-v6"]

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration(versions[0], migrate: createV1)
        migrator.registerMigration(versions[1], migrate: addMQTT5)
        migrator.registerMigration(versions[2], migrate: addLastAlive)
        migrator.registerMigration(versions[3], migrate: addSharedFilter)
        migrator.registerMigration(versions[4], migrate: addSharedQoS)
        migrator.registerMigration(versions[5], migrate: addWills)
        return migrator
    }

    private static func createV1(_ db: Database) throws {
        try db.create(table: "session", options: [.strict, .withoutRowID]) { t in
            t.primaryKey("clientID", .text)
            // `contingent:KAZ` or `operator:name`.
            t.column("owner", .text).notNull()
        }
        try db.create(table: "subscription", options: [.strict, .withoutRowID]) { t in
            t.column("clientID", .text).notNull().references("session", onDelete: .cascade)
            t.column("filter", .text).notNull()
            t.column("qos", .integer).notNull().check { $0 >= 0 && $0 <= 2 }
            t.primaryKey(["clientID", "filter"])
        }
        try db.create(table: "message", options: [.strict]) { t in
            t.primaryKey("id", .integer)
            t.column("topic", .text).notNull()
            t.column("payload", .blob).notNull()
            t.column("precedence", .integer).notNull().check { $0 >= 1 && $0 <= 4 }
            // `contingent:KAZ`, `operator:name`, or NULL for the hub itself.
            t.column("publisher", .text)
        }
        try db.create(table: "delivery", options: [.strict, .withoutRowID]) { t in
            t.column("clientID", .text).notNull().references("session", onDelete: .cascade)
            t.column("sequence", .integer).notNull()
            t.column("messageID", .integer).notNull().indexed().references("message")
            t.column("qos", .integer).notNull().check { $0 >= 0 && $0 <= 2 }
            t.column("retain", .integer).notNull().check { $0 >= 0 && $0 <= 1 }
            t.column("packetID", .integer).check { $0 >= 1 && $0 <= 65535 }
            t.column("stage", .integer).check { $0 >= 1 && $0 <= 3 }
            t.check(sql: "(packetID IS NULL) = (stage IS NULL)")
            t.primaryKey(["clientID", "sequence"])
        }
        try db.create(table: "inboundQoS2", options: [.strict, .withoutRowID]) { t in
            t.column("clientID", .text).notNull().references("session", onDelete: .cascade)
            t.column("packetID", .integer).notNull().check { $0 >= 1 && $0 <= 65535 }
            t.primaryKey(["clientID", "packetID"])
        }
        try db.create(table: "retained", options: [.strict, .withoutRowID]) { t in
            t.primaryKey("topic", .text)
            t.column("messageID", .integer).notNull().indexed().references("message")
            t.column("qos", .integer).notNull().check { $0 >= 0 && $0 <= 2 }
            t.column("retain", .integer).notNull().check { $0 >= 0 && $0 <= 1 }
        }
        // The largest sequence and message id ever stored; rows come and go, these only grow.
        try db.create(table: "meta", options: [.strict]) { t in
            t.primaryKey("id", .integer).check { $0 == 1 }
            t.column("lastSequence", .integer).notNull()
            t.column("lastMessageID", .integer).notNull()
        }
        try db.execute(sql: "INSERT INTO meta (id, lastSequence, lastMessageID) VALUES (1, 0, 0)")
    }

    /// MQTT 5.0: session expiry, subscription options and identifiers, message properties and expiry. Rows from
    /// v1 read as what 3.1.1 meant: sessions that never expire, plain subscriptions, messages without properties.
    private static func addMQTT5(_ db: Database) throws {
        try db.alter(table: "session") { t in
            // Seconds the session outlives its connection (only sessions that do are stored).
            t.add(column: "expiryInterval", .integer).notNull().defaults(to: 4_294_967_295)
                .check { $0 >= 1 && $0 <= 4_294_967_295 }
            // When a disconnected session ends, milliseconds since 1970; NULL while connected or never.
            t.add(column: "expiresAt", .integer)
        }
        try db.alter(table: "subscription") { t in
            // No Local (0x04), Retain As Published (0x08), Retain Handling (bits 4-5): the options byte without QoS.
            t.add(column: "options", .integer).notNull().defaults(to: 0).check { $0 >= 0 && $0 <= 0x2c }
            t.add(column: "identifier", .integer).check { $0 >= 1 && $0 <= 268_435_455 }
        }
        try db.alter(table: "message") { t in
            // The MQTT 5 properties passed on to subscribers, in their wire form (length first); NULL when none.
            t.add(column: "properties", .blob)
            t.add(column: "expiresAt", .integer)
        }
        try db.alter(table: "delivery") { t in
            // The Subscription Identifiers that matched, comma-separated; NULL when none.
            t.add(column: "subscriptionIdentifiers", .text)
        }
    }

    /// When the hub last ran, so that sessions connected at a crash expire from then (`StoreOperation.recordAlive`).
    private static func addLastAlive(_ db: Database) throws {
        try db.alter(table: "meta") { t in
            // Milliseconds since 1970; NULL until a hub of this version has run.
            t.add(column: "lastAlive", .integer)
        }
    }

    /// A delivery's shared subscription, so that after a restart it still goes to the group's next member when its
    /// session ends (`Broker.drop`).
    private static func addSharedFilter(_ db: Database) throws {
        try db.alter(table: "delivery") { t in
            // `$share/<group>/<filter>` when the message came through that subscription alone; NULL otherwise.
            t.add(column: "sharedFilter", .text)
        }
    }

    /// The QoS a shared delivery's message was published with: the group's next member gets it at the QoS its own
    /// subscription grants (`SharedOrigin`).
    private static func addSharedQoS(_ db: Database) throws {
        try db.alter(table: "delivery") { t in
            // 0, 1 or 2 when sharedFilter is set; NULL otherwise, and in rows written before this version.
            t.add(column: "sharedQoS", .integer)
        }
    }

    /// A disconnected session's will held back for its delay (`StoreOperation.setWill`), so that a restart within
    /// the delay keeps it.
    private static func addWills(_ db: Database) throws {
        try db.create(table: "will", options: [.strict, .withoutRowID]) { t in
            t.primaryKey("clientID", .text).references("session", onDelete: .cascade)
            t.column("topic", .text).notNull()
            t.column("payload", .blob).notNull()
            t.column("qos", .integer).notNull().check { $0 >= 0 && $0 <= 2 }
            t.column("retain", .integer).notNull().check { $0 >= 0 && $0 <= 1 }
            // The will properties in their wire form (length first); NULL when none.
            t.column("properties", .blob)
            // When it is due, milliseconds since 1970.
            t.column("publishAt", .integer).notNull()
            // The certificates its client connected with (`PeerCredentials`), one per line.
            t.column("credentials", .text).notNull()
        }
    }
}
