import Foundation
import GRDB

/// A person with their qualifications and deployments, as one actor may see them.
public struct PersonRecord: Codable, Sendable, Hashable {
    public var person: Person
    public var qualifications: [Qualification]
    public var deployments: [Deployment]
    /// True when the reader belongs to another contingent: date of birth, medical qualifications and
    /// evidence hashes are withheld (docs/registry.md lists the shared fields).
    public var restricted: Bool

    public init(
        person: Person, qualifications: [Qualification], deployments: [Deployment] = [], restricted: Bool = false
    ) {
        self.person = person
        self.qualifications = qualifications
        self.deployments = deployments
        self.restricted = restricted
    }

    /// The shared view: what another contingent may read.
    public var shared: PersonRecord {
        var copy = self
        copy.person.dateOfBirth = nil
        copy.qualifications = qualifications.filter { $0.kind != .medical }.map { qualification in
            var qualification = qualification
            qualification.evidenceHash = nil
            return qualification
        }
        copy.restricted = true
        return copy
    }
}

/// A mission with its lifecycle phase on the day asked about.
public struct MissionStatus: Codable, Sendable, Hashable {
    public var mission: Mission
    public var lifecycle: MissionLifecycle?
    public var lifecycleSince: CalendarDate?
    public var phases: [MissionPhase]
}

/// Deployed strength of one contingent and category in one mission on a day.
public struct StrengthRow: Codable, Sendable, Hashable {
    public var mission: String
    public var contingent: String
    public var category: PersonCategory
    public var total: Int
    public var women: Int
    /// Share of women, 0...1.
    public var womenShare: Double { total == 0 ? 0 : Double(women) / Double(total) }

    enum CodingKeys: String, CodingKey { case mission, contingent, category, total, women, womenShare }

    public init(mission: String, contingent: String, category: PersonCategory, total: Int, women: Int) {
        self.mission = mission
        self.contingent = contingent
        self.category = category
        self.total = total
        self.women = women
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        mission = try container.decode(String.self, forKey: .mission)
        contingent = try container.decode(String.self, forKey: .contingent)
        category = try container.decode(PersonCategory.self, forKey: .category)
        total = try container.decode(Int.self, forKey: .total)
        women = try container.decode(Int.self, forKey: .women)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(mission, forKey: .mission)
        try container.encode(contingent, forKey: .contingent)
        try container.encode(category, forKey: .category)
        try container.encode(total, forKey: .total)
        try container.encode(women, forKey: .women)
        try container.encode((womenShare * 1000).rounded() / 1000, forKey: .womenShare)
    }
}

extension Registry {
    // MARK: - Persons

    /// One person as `actor` may see them (full for the own contingent and operators, shared otherwise).
    public func person(serviceNumber: String, as actor: Actor) throws -> PersonRecord {
        let record = try database.read { db in
            let person = try requirePerson(db, serviceNumber)
            return PersonRecord(
                person: person,
                qualifications: try Qualification.filter(Qualification.Columns.personId == person.id)
                    .order(Column("id")).fetchAll(db),
                deployments: try Deployment.filter(Deployment.Columns.personId == person.id)
                    .order(Column("plannedStart")).fetchAll(db))
        }
        return actor.mayChange(contingent: record.person.contingent) ? record : record.shared
    }

    /// Every person with qualifications, as `actor` may see them (for export).
    public func personRecords(as actor: Actor) throws -> [PersonRecord] {
        try database.read { db in
            let qualifications = Dictionary(
                grouping: try Qualification.order(Column("id")).fetchAll(db), by: \.personId)
            return try Person.order(Person.Columns.serviceNumber).fetchAll(db).map { person in
                let record = PersonRecord(person: person, qualifications: qualifications[person.id!] ?? [])
                return actor.mayChange(contingent: person.contingent) ? record : record.shared
            }
        }
    }

    /// A person's qualifications; with `validOn`, only those valid that day (expired ones count as missing).
    /// Medical ones only for the own contingent and operators.
    public func qualifications(
        serviceNumber: String, validOn date: CalendarDate? = nil, as actor: Actor
    ) throws -> [Qualification] {
        let record = try person(serviceNumber: serviceNumber, as: actor)
        guard let date else { return record.qualifications }
        return record.qualifications.filter { $0.isValid(on: date) }
    }

    // MARK: - Contingents, missions, deployments, equipment

    public func contingents() throws -> [Contingent] {
        try database.read { db in try Contingent.order(Contingent.Columns.code).fetchAll(db) }
    }

    public func contingent(code: String) throws -> Contingent {
        guard let contingent = try database.read({ db in try Contingent.fetchOne(db, key: code) }) else {
            throw RegistryError(.notFound, "no contingent \(code)")
        }
        return contingent
    }

    /// Every mission with its lifecycle on `date`.
    public func missions(on date: CalendarDate) throws -> [MissionStatus] {
        try database.read { db in
            try Mission.order(Mission.Columns.code).fetchAll(db).map { try Self.status(db, $0, on: date) }
        }
    }

    public func mission(code: String, on date: CalendarDate) throws -> MissionStatus {
        try database.read { db in
            guard let mission = try Mission.fetchOne(db, key: code) else {
                throw RegistryError(.notFound, "no mission \(code)")
            }
            return try Self.status(db, mission, on: date)
        }
    }

    private static func status(_ db: Database, _ mission: Mission, on date: CalendarDate) throws -> MissionStatus {
        let phases = try MissionPhase.filter(MissionPhase.Columns.mission == mission.code)
            .order(MissionPhase.Columns.since).fetchAll(db)
        let current = phases.last { $0.since <= date }
        return MissionStatus(
            mission: mission, lifecycle: current?.lifecycle, lifecycleSince: current?.since, phases: phases)
    }

    /// Deployments, optionally of one mission, contingent (its people and its unit) or status, by id after `id`.
    public func deployments(
        mission: String? = nil, contingent: String? = nil, status: DeploymentStatus? = nil, after id: Int64? = nil,
        limit: Int? = nil
    ) throws -> [(deployment: Deployment, subject: String)] {
        try database.read { db in
            var sql = """
                SELECT deployment.*, COALESCE(person.serviceNumber, deployment.contingent) AS subject
                FROM deployment LEFT JOIN person ON person.id = deployment.personId WHERE 1
                """
            var arguments: [any DatabaseValueConvertible] = []
            if let mission {
                sql += " AND deployment.mission = ?"
                arguments.append(mission)
            }
            if let contingent {
                sql += " AND (person.contingent = ? OR deployment.contingent = ?)"
                arguments += [contingent, contingent]
            }
            if let status {
                sql += " AND deployment.status = ?"
                arguments.append(status.rawValue)
            }
            if let id {
                sql += " AND deployment.id > ?"
                arguments.append(id)
            }
            sql += " ORDER BY deployment.id"
            if let limit {
                sql += " LIMIT ?"
                arguments.append(limit)
            }
            return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map { row in
                (try Deployment(row: row), row["subject"] as String)
            }
        }
    }

    /// Equipment, optionally of one contingent, status or class, by serial after `serial`.
    public func equipment(
        contingent: String? = nil, status: EquipmentStatus? = nil, coeClass: COEClass? = nil,
        after serial: String? = nil, limit: Int? = nil
    ) throws -> [Equipment] {
        try database.read { db in
            var request = Equipment.order(Equipment.Columns.serial)
            if let contingent { request = request.filter(Equipment.Columns.contingent == contingent) }
            if let status { request = request.filter(Column("status") == status) }
            if let coeClass { request = request.filter(Column("coeClass") == coeClass) }
            if let serial { request = request.filter(Equipment.Columns.serial > serial) }
            if let limit { request = request.limit(limit) }
            return try request.fetchAll(db)
        }
    }

    public func inspections(serial: String) throws -> [EquipmentInspection] {
        try database.read { db in
            let equipment = try requireEquipment(db, serial)
            return try EquipmentInspection.filter(EquipmentInspection.Columns.equipmentId == equipment.id)
                .order(EquipmentInspection.Columns.date).fetchAll(db)
        }
    }

    // MARK: - Statistics

    /// Deployed strength on `date` by mission, contingent and category: people whose tour has actually
    /// started by then and has not ended before it (planned end for tours still running).
    public func strength(on date: CalendarDate) throws -> [StrengthRow] {
        try database.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT deployment.mission, person.contingent, person.category,
                           COUNT(DISTINCT person.id) AS total,
                           COUNT(DISTINCT CASE WHEN person.sex = 'F' THEN person.id END) AS women
                    FROM deployment JOIN person ON person.id = deployment.personId
                    WHERE deployment.actualStart IS NOT NULL AND deployment.actualStart <= :date
                      AND COALESCE(deployment.actualEnd, deployment.plannedEnd) >= :date
                    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
                    """, arguments: ["date": date]
            ).map { row in
                StrengthRow(
                    mission: row[0], contingent: row[1], category: row[2], total: row["total"], women: row["women"])
            }
        }
    }

    /// Writes a consistent copy of the database to `path` while it stays in use (SQLite online backup). It holds
    /// every contingent's records, so operators only.
    public func backup(to path: String, as actor: Actor) throws {
        try requireOperator(actor, to: "back up the registry (it holds every contingent's records)")
        guard !FileManager.default.fileExists(atPath: path) else {
            throw RegistryError(.alreadyExists, "\(path) exists; choose a new file for the backup")
        }
        // Written beside it and linked in when whole: a backup cut short (kill -9) leaves `.partial`, never a file
        // under the name a restore would take.
        let partial = path + ".partial"
        try? FileManager.default.removeItem(atPath: partial)
        try Self.createPrivately(partial)
        do {
            let copy = try DatabaseQueue(path: partial)
            try database.backup(to: copy)
            // One file, as a backup is kept and checked: the copy takes the registry's write-ahead log mode, and a
            // reader of it then left `-wal` and `-shm` files beside it.
            try copy.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = DELETE") }
            try copy.close()
        } catch {
            // The copy's rollback journal too, which SQLite leaves beside a copy that failed.
            for file in [partial, partial + "-journal"] { try? FileManager.default.removeItem(atPath: file) }
            throw RegistryError(.invalidInput, "cannot write the backup \(path): \(Self.describe(error))")
        }
        // link(2) refuses a file that appeared meanwhile, where rename(2) would replace it.
        guard link(partial, path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: partial)
            throw RegistryError(.alreadyExists, "\(path): \(reason); choose a new file for the backup")
        }
        try? FileManager.default.removeItem(atPath: partial)
    }
}
