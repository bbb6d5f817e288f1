import GRDB

/// The registry's schema: append-only, versioned migrations. Never edit a shipped migration;
/// add a new one at the end of `versions`.
public enum RegistrySchema {
    /// The migration identifiers, oldest first. The last one is the current schema version.
    public static let versions = [
        "v1-people-and-deployments", "v2-equipment-and-reports", "v3-report-status", "v4-membership-changes",
    ]

    public static var current: String { versions.last! }

    /// A migrator for all versions; `migrate(_:upTo:)` builds an older schema (used by tests).
    public static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration(versions[0], migrate: createPeopleAndDeployments)
        migrator.registerMigration(versions[1], migrate: createEquipmentAndReports)
        migrator.registerMigration(versions[2], migrate: addReportStatus)
        migrator.registerMigration(versions[3], migrate: addMembershipChanges)
        return migrator
    }

    private static func createPeopleAndDeployments(_ db: Database) throws {
        try db.create(table: "contingent") { t in
            t.primaryKey("code", .text)
            t.column("name", .text).notNull()
            t.column("pcrsLevel", .text).notNull().defaults(to: "NONE")
                .check { ["NONE", "L1", "L2", "L3", "RDL"].contains($0) }
            t.column("pcrsEvidence", .text)
            t.column("pcrsEvidenceDate", .text)
        }
        try db.create(table: "mission") { t in
            t.primaryKey("code", .text)
            t.column("name", .text).notNull()
            t.column("establishedOn", .text)
        }
        try db.create(table: "missionPhase") { t in
            t.column("mission", .text).notNull().references("mission", onDelete: .cascade)
            t.column("lifecycle", .text).notNull()
                .check { ["ACTIVE", "DRAWDOWN", "LIQUIDATION", "CLOSED"].contains($0) }
            t.column("since", .text).notNull()
            t.primaryKey(["mission", "since"])
        }
        try db.create(table: "person") { t in
            t.autoIncrementedPrimaryKey("id")
            t.column("serviceNumber", .text).notNull().unique()
            t.column("latinName", .text).notNull()
            t.column("cyrillicName", .text)
            t.column("sex", .text).notNull().check { ["F", "M"].contains($0) }
            t.column("nationality", .text).notNull()
            t.column("contingent", .text).notNull().indexed().references("contingent")
            t.column("rank", .text).notNull()
            t.column("rankCode", .text)
            t.column("category", .text).notNull()
                .check { ["MILITARY_OBSERVER", "STAFF_OFFICER", "TROOP", "POLICE", "CIVILIAN"].contains($0) }
            t.column("dateOfBirth", .text).notNull()
            t.column("commissionedServiceYears", .integer)
            t.column("languages", .text).notNull().defaults(to: "[]")
        }
        try db.create(table: "qualification") { t in
            t.autoIncrementedPrimaryKey("id")
            t.column("personId", .integer).notNull().indexed().references("person", onDelete: .cascade)
            t.column("kind", .text).notNull()
                .check { ["TRAINING", "LANGUAGE", "MEDICAL", "DRIVING", "WEAPONS", "FIRST_AID", "OTHER"].contains($0) }
            t.column("code", .text).notNull()
            t.column("provider", .text)
            t.column("issuedOn", .text).notNull()
            t.column("expiresOn", .text)
            t.column("evidenceHash", .text)
            t.column("level", .text)
        }
        try db.create(table: "deployment") { t in
            t.autoIncrementedPrimaryKey("id")
            t.column("personId", .integer).indexed().references("person", onDelete: .restrict)
            t.column("contingent", .text).indexed().references("contingent")
            t.column("mission", .text).notNull().indexed().references("mission")
            t.column("role", .text).notNull()
            t.column("post", .text)
            t.column("drawdownRole", .boolean).notNull().defaults(to: false)
            t.column("leadNation", .text)
            t.column("hostUnit", .text)
            t.column("rotation", .integer)
            t.column("plannedStart", .text).notNull()
            t.column("plannedEnd", .text).notNull()
            t.column("actualStart", .text)
            t.column("actualEnd", .text)
            t.column("status", .text).notNull()
                .check {
                    ["PLANNED", "IN_TRANSIT", "IN_MISSION", "EXTENDED", "ENDED", "REPATRIATED_EARLY"].contains($0)
                }
            t.column("repatriationReason", .text)
            t.check(sql: "(personId IS NULL) <> (contingent IS NULL)")
        }
        try db.create(table: "auditEntry") { t in
            t.primaryKey("seq", .integer)
            t.column("actor", .text).notNull()
            t.column("time", .text).notNull()
            t.column("entity", .text).notNull()
            t.column("entityId", .text).notNull()
            t.column("action", .text).notNull()
            t.column("before", .text)
            t.column("after", .text)
            t.column("hash", .text).notNull()
        }
        // The chain's head, kept apart so that deleting the newest entries is noticed too.
        try db.create(table: "auditHead") { t in
            t.primaryKey("id", .integer).check { $0 == 1 }
            t.column("seq", .integer).notNull()
            t.column("hash", .text).notNull()
        }
    }

    private static func createEquipmentAndReports(_ db: Database) throws {
        try db.create(table: "equipment") { t in
            t.autoIncrementedPrimaryKey("id")
            t.column("contingent", .text).notNull().indexed().references("contingent")
            t.column("coeClass", .text).notNull().check { ["MAJOR_EQUIPMENT", "SELF_SUSTAINMENT"].contains($0) }
            t.column("category", .text).notNull()
            t.column("description", .text)
            t.column("serial", .text).notNull().unique()
            t.column("leaseType", .text).notNull().check { ["WET", "DRY"].contains($0) }
            t.column("status", .text).notNull()
                .check { ["SERVICEABLE", "UNSERVICEABLE", "IN_TRANSIT", "LOST_DAMAGED"].contains($0) }
        }
        try db.create(table: "equipmentInspection") { t in
            t.autoIncrementedPrimaryKey("id")
            t.column("equipmentId", .integer).notNull().indexed().references("equipment", onDelete: .cascade)
            t.column("type", .text).notNull().check { ["ARRIVAL", "PERIODIC", "REPATRIATION"].contains($0) }
            t.column("date", .text).notNull()
            t.column("result", .text).notNull()
        }
        try db.create(table: "archivedReport") { t in
            t.autoIncrementedPrimaryKey("id")
            t.column("mission", .text).notNull().indexed()
            t.column("type", .text).notNull()
            t.column("sender", .text).notNull()
            t.column("receivedAt", .text).notNull()
            t.column("precedence", .text).notNull()
            t.column("securityLabel", .text)
            t.column("latitude", .double)
            t.column("longitude", .double)
            t.column("body", .text).notNull()
            t.column("annotations", .text)
        }
    }

    /// Reports a mission module could not judge are archived too, as HELD, with the reason.
    private static func addReportStatus(_ db: Database) throws {
        try db.alter(table: "archivedReport") { t in
            t.add(column: "status", .text).notNull().defaults(to: "ACCEPTED")
                .check { ["ACCEPTED", "HELD"].contains($0) }
            t.add(column: "reason", .text)
        }
    }

    /// Counts the commits that can change what a contingent may read and write on MQTT (`RegistryChangeMonitor`):
    /// a contingent added, renamed or removed, a person moved to another contingent, a deployment added, removed or
    /// changed in its person, contingent, mission or status. Triggers count them, so a change by any process (a
    /// `peacehub registry` command beside the hub) is counted; the hub's caches of those answers then outlive
    /// the commits that cannot change them, above all the report archive's, one for every batch of reports.
    private static func addMembershipChanges(_ db: Database) throws {
        try db.create(table: "membershipChanges") { t in
            t.primaryKey("id", .integer).check { $0 == 1 }
            t.column("count", .integer).notNull()
        }
        try db.execute(sql: "INSERT INTO membershipChanges (id, count) VALUES (1, 0)")
        // A record's update writes every column, so a change is told by the values, not by the columns set.
        let triggers = [
            ("contingentAdded", "INSERT ON contingent", "1"),
            ("contingentRemoved", "DELETE ON contingent", "1"),
            ("contingentRenamed", "UPDATE ON contingent", changed(["code"])),
            ("personMoved", "UPDATE ON person", changed(["id", "contingent"])),
            ("deploymentAdded", "INSERT ON deployment", "1"),
            ("deploymentRemoved", "DELETE ON deployment", "1"),
            ("deploymentChanged", "UPDATE ON deployment", changed(["personId", "contingent", "mission", "status"])),
        ]
        for (name, event, condition) in triggers {
            try db.execute(
                sql: """
                    CREATE TRIGGER membershipChange_\(name) AFTER \(event) WHEN \(condition)
                    BEGIN UPDATE membershipChanges SET count = count + 1; END
                    """)
        }
    }

    /// A trigger's condition: one of `columns` has a new value.
    private static func changed(_ columns: [String]) -> String {
        columns.map { "OLD.\($0) IS NOT NEW.\($0)" }.joined(separator: " OR ")
    }
}
