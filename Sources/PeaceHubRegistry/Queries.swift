import Foundation
import GRDB
import PeaceHubCore

/// Which people a list returns. Every member narrows the list; nil members do not filter.
public struct PersonQuery: Sendable, Hashable {
    public var contingent: String?
    public var category: PersonCategory?
    public var nationality: String?
    public var sex: Sex?
    /// People with a deployment to this mission (of `deploymentStatus`, when that is set too).
    public var mission: String?
    /// People with a deployment in this status (to `mission`, when that is set too).
    public var deploymentStatus: DeploymentStatus?

    public init(
        contingent: String? = nil, category: PersonCategory? = nil, nationality: String? = nil, sex: Sex? = nil,
        mission: String? = nil, deploymentStatus: DeploymentStatus? = nil
    ) {
        self.contingent = contingent
        self.category = category
        self.nationality = nationality
        self.sex = sex
        self.mission = mission
        self.deploymentStatus = deploymentStatus
    }
}

/// A latitude/longitude rectangle in decimal degrees (WGS 84), edges included. It may not cross the antimeridian.
public struct BoundingBox: Sendable, Hashable {
    public var minimumLatitude: Double
    public var minimumLongitude: Double
    public var maximumLatitude: Double
    public var maximumLongitude: Double

    public init(minimumLatitude: Double, minimumLongitude: Double, maximumLatitude: Double, maximumLongitude: Double) {
        self.minimumLatitude = minimumLatitude
        self.minimumLongitude = minimumLongitude
        self.maximumLatitude = maximumLatitude
        self.maximumLongitude = maximumLongitude
    }

    /// Parses `minLon,minLat,maxLon,maxLat` (the GeoJSON bbox order), as the API's `bbox` and the CLI's `--bbox`
    /// take it; nil for anything else.
    public init?(parsing text: String) {
        let numbers = text.split(separator: ",", omittingEmptySubsequences: false).compactMap { Double($0) }
        guard numbers.count == 4, numbers.allSatisfy(\.isFinite) else { return nil }
        self.init(
            minimumLatitude: numbers[1], minimumLongitude: numbers[0], maximumLatitude: numbers[3],
            maximumLongitude: numbers[2])
    }
}

/// Which archived reports a query returns. Every member narrows the list; nil members do not filter.
public struct ReportQuery: Sendable, Hashable {
    public var mission: String?
    /// The report type, the last level of `missions/<CODE>/reports/<TYPE>`.
    public var type: String?
    /// `ACCEPTED` or `HELD`.
    public var status: String?
    /// The contingent code (or `operator:<name>`) that sent it.
    public var sender: String?
    /// Received at or after this instant.
    public var receivedFrom: Date?
    /// Received before this instant.
    public var receivedBefore: Date?
    /// Reports whose location lies in the box; reports without a location are left out.
    public var area: BoundingBox?

    public init(
        mission: String? = nil, type: String? = nil, status: String? = nil, sender: String? = nil,
        receivedFrom: Date? = nil, receivedBefore: Date? = nil, area: BoundingBox? = nil
    ) {
        self.mission = mission
        self.type = type
        self.status = status
        self.sender = sender
        self.receivedFrom = receivedFrom
        self.receivedBefore = receivedBefore
        self.area = area
    }

    /// The statuses an archived report can have.
    public static let statuses = ["ACCEPTED", "HELD"]

    /// Parses an instant for `receivedFrom` / `receivedBefore`: an ISO 8601 date-time (`2026-11-20T08:00:00Z`,
    /// fractional seconds allowed) or a date (midnight UTC); nil for anything else.
    public static func instant(parsing text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        guard CalendarDate(text) != nil else { return nil }
        formatter.formatOptions = [.withFullDate]
        return formatter.date(from: text)
    }
}

// Lists for the admin API and the CLI: filters and keyset paging (`after` the last key of the previous page,
// at most `limit` rows), so a page costs the same however far into the list it is.
extension Registry {
    /// People matching `query`, ordered by service number, after `serviceNumber`. Other contingents' people come
    /// in the shared view (without date of birth).
    public func persons(
        matching query: PersonQuery = PersonQuery(), after serviceNumber: String? = nil, limit: Int? = nil,
        as actor: Actor
    ) throws -> [Person] {
        try database.read { db in
            var request = Person.order(Person.Columns.serviceNumber)
            if let contingent = query.contingent { request = request.filter(Person.Columns.contingent == contingent) }
            if let category = query.category { request = request.filter(Person.Columns.category == category) }
            if let nationality = query.nationality { request = request.filter(Column("nationality") == nationality) }
            if let sex = query.sex { request = request.filter(Column("sex") == sex) }
            if query.mission != nil || query.deploymentStatus != nil {
                var sql = "EXISTS (SELECT 1 FROM deployment WHERE deployment.personId = person.id"
                var arguments: [any DatabaseValueConvertible] = []
                if let mission = query.mission {
                    sql += " AND deployment.mission = ?"
                    arguments.append(mission)
                }
                if let status = query.deploymentStatus {
                    sql += " AND deployment.status = ?"
                    arguments.append(status)
                }
                request = request.filter(sql: sql + ")", arguments: StatementArguments(arguments))
            }
            if let serviceNumber { request = request.filter(Person.Columns.serviceNumber > serviceNumber) }
            if let limit { request = request.limit(limit) }
            return try request.fetchAll(db).map { person in
                var person = person
                if !actor.mayChange(contingent: person.contingent) { person.dateOfBirth = nil }
                return person
            }
        }
    }

    /// One deployment with its subject (service number or contingent code).
    public func deployment(id: Int64) throws -> (deployment: Deployment, subject: String) {
        try database.read { db in
            guard let deployment = try Deployment.fetchOne(db, key: id) else {
                throw RegistryError(.notFound, "no deployment \(id)")
            }
            return (deployment, try subjectName(db, deployment).name)
        }
    }

    /// The missions in which `contingent` has a deployment in progress (in transit, in the mission or extended),
    /// of one of its people or of its unit: where it may exchange reports and chat, and read the report archive.
    ///
    /// One query for the mission codes alone: the hub asks after every registry change (it archives each report).
    public func activeMissions(of contingent: String) throws -> Set<String> {
        let inProgress = DeploymentStatus.allCases.filter(\.isInProgress)
        let placeholders = inProgress.map { _ in "?" }.joined(separator: ", ")
        return try database.read { db in
            let missions = try String.fetchAll(
                db,
                sql: """
                    SELECT DISTINCT deployment.mission FROM deployment
                    LEFT JOIN person ON person.id = deployment.personId
                    WHERE (person.contingent = ? OR deployment.contingent = ?)
                        AND deployment.status IN (\(placeholders))
                    """,
                arguments: StatementArguments([contingent, contingent] + inProgress.map(\.rawValue)))
            return Set(missions)
        }
    }

    /// One piece of equipment.
    public func equipment(serial: String) throws -> Equipment {
        try database.read { db in try requireEquipment(db, serial) }
    }

    /// Archived reports matching `query`, oldest first, after archive id `id`.
    ///
    /// Operators read every report. A contingent reads the reports of the missions it is deployed in
    /// (`activeMissions(of:)`), as on the MQTT topics; asking for another mission is refused.
    public func archivedReports(
        matching query: ReportQuery, after id: Int64? = nil, limit: Int? = nil, as actor: Actor
    ) throws -> [ArchivedReport] {
        var missions: Set<String>?
        if case .contingent(let code) = actor {
            let active = try activeMissions(of: code)
            if let mission = query.mission, !active.contains(mission) {
                throw RegistryError(
                    .accessDenied, "\(actor) may not read the reports of \(mission): it has no deployment there")
            }
            missions = active
        }
        if let area = query.area {
            guard area.minimumLatitude <= area.maximumLatitude, area.minimumLongitude <= area.maximumLongitude,
                (-90...90).contains(area.minimumLatitude), (-90...90).contains(area.maximumLatitude),
                (-180...180).contains(area.minimumLongitude), (-180...180).contains(area.maximumLongitude)
            else {
                throw RegistryError(
                    .invalidInput,
                    "the area must have minimum ≤ maximum, within ±90° latitude and ±180° longitude")
            }
        }
        if let status = query.status, !ReportQuery.statuses.contains(status) {
            throw RegistryError(.invalidInput, "report status '\(cut(status))' is not ACCEPTED or HELD")
        }
        return try database.read { db in
            var request = ArchivedReport.order(Column("id"))
            if let missions { request = request.filter(missions.contains(ArchivedReport.Columns.mission)) }
            if let mission = query.mission { request = request.filter(ArchivedReport.Columns.mission == mission) }
            if let type = query.type { request = request.filter(Column("type") == type) }
            if let status = query.status { request = request.filter(Column("status") == status) }
            if let sender = query.sender { request = request.filter(Column("sender") == sender) }
            if let from = query.receivedFrom {
                request = request.filter(ArchivedReport.Columns.receivedAt >= ArchivedReport.timestamp(from))
            }
            if let before = query.receivedBefore {
                request = request.filter(ArchivedReport.Columns.receivedAt < ArchivedReport.timestamp(before))
            }
            if let area = query.area {
                request = request.filter(
                    Column("latitude") >= area.minimumLatitude && Column("latitude") <= area.maximumLatitude
                        && Column("longitude") >= area.minimumLongitude && Column("longitude") <= area.maximumLongitude)
            }
            if let id { request = request.filter(Column("id") > id) }
            if let limit { request = request.limit(limit) }
            return try request.fetchAll(db)
        }
    }

    // MARK: - Audit trail (operators only)

    /// Audit entries, newest first, before sequence number `seq`. Operators only: the entries hold every
    /// record's before and after, medical details included.
    public func auditEntries(before seq: Int64? = nil, limit: Int? = nil, as actor: Actor) throws -> [AuditEntry] {
        try requireOperator(actor, to: "read the audit trail")
        return try database.read { db in
            var request = AuditEntry.order(AuditEntry.Columns.seq.desc)
            if let seq { request = request.filter(AuditEntry.Columns.seq < seq) }
            if let limit { request = request.limit(limit) }
            return try request.fetchAll(db)
        }
    }

    /// Walks the audit hash chain; the result names the first missing, moved or edited entry. Operators only.
    public func verifyAudit(as actor: Actor) throws -> AuditVerification {
        try requireOperator(actor, to: "verify the audit trail")
        return try database.read { db in try AuditChain.verify(db) }
    }
}

extension ArchivedReport {
    /// `receivedAt` as the archive writes it: ISO 8601 in UTC, whole seconds (`2026-11-26T10:00:00Z`), so text
    /// comparison orders instants.
    public static func timestamp(_ date: Date) -> String {
        UTCTimestamp.string(date, withMilliseconds: false)
    }
}

extension DeploymentStatus {
    /// On the way, in the mission or extended: the deployment gives its contingent a place in the mission.
    public var isInProgress: Bool { self == .inTransit || self == .inMission || self == .extended }
}
