import Foundation
import GRDB
import PeaceHubCore

// Readiness requests (docs/abi.md, "Readiness request") built from registry rows, and their
// evaluation through the `ReadinessEvaluating` the registry was given (the plugin host, in the hub).

extension Registry {
    /// The readiness request for a person and a mission, as the mission module receives it.
    public func readinessRequest(
        serviceNumber: String, mission: String, asOf: CalendarDate, deployment: Deployment? = nil
    ) throws -> Data {
        try database.read { db in
            let person = try Self.personObject(db, try requirePerson(db, serviceNumber))
            return Self.request(
                subject: "person", mission: mission, asOf: asOf, deployment: deployment, body: ("person", person))
        }
    }

    /// The readiness request for a contingent: its members are its people with an open (not finished,
    /// not cancelled) deployment to the mission that covers `asOf`; lead nation and host unit come from
    /// the contingent's own open deployment there (the one covering `asOf`, else the latest).
    public func readinessRequest(
        contingent code: String, mission: String, asOf: CalendarDate, deployment: Deployment? = nil
    ) throws -> Data {
        try database.read { db in
            let contingent = try Self.contingentObject(db, code: code, mission: mission, asOf: asOf)
            return Self.request(
                subject: "contingent", mission: mission, asOf: asOf, deployment: deployment,
                body: ("contingent", contingent))
        }
    }

    /// Asks the mission module whether a person is ready for `mission` on `asOf`. Only the person's own
    /// contingent and operators may ask: the answer reveals medical status.
    public func readiness(
        serviceNumber: String, mission: String, asOf: CalendarDate, as actor: Actor
    ) throws -> [UnmetRequirement] {
        let (owner, planned) = try database.read { db in
            let person = try requirePerson(db, serviceNumber)
            let planned = try Self.planned(db, Deployment.Columns.personId == person.id, mission: mission)
            return (person.contingent, planned)
        }
        guard actor.mayChange(contingent: owner) else {
            throw RegistryError(.accessDenied, "\(actor) may not see the readiness of \(owner) personnel")
        }
        try requireMission(mission)
        return try evaluate(
            mission: mission,
            request: readinessRequest(serviceNumber: serviceNumber, mission: mission, asOf: asOf, deployment: planned))
    }

    /// The subject's planned deployment to `mission` (the earliest, if several), which a readiness question judges
    /// too, as the move to IN_TRANSIT will: its dates against the mission's deadline, its drawdown role.
    private static func planned(_ db: Database, _ subject: SQLExpression, mission: String) throws -> Deployment? {
        try Deployment.filter(subject && Deployment.Columns.mission == mission)
            .filter(Deployment.Columns.status == DeploymentStatus.planned.rawValue)
            .order(Column("plannedStart"), Deployment.Columns.id).fetchOne(db)
    }

    /// Asks the mission module whether a contingent (and its members deploying there) is ready.
    public func readiness(
        contingent code: String, mission: String, asOf: CalendarDate, as actor: Actor
    ) throws -> [UnmetRequirement] {
        guard actor.mayChange(contingent: code) else {
            throw RegistryError(.accessDenied, "\(actor) may not see the readiness of contingent \(code)")
        }
        try requireMission(mission)
        let planned = try database.read { db in
            try Self.planned(
                db, Deployment.Columns.contingent == code && Deployment.Columns.personId == nil, mission: mission)
        }
        return try evaluate(
            mission: mission,
            request: readinessRequest(contingent: code, mission: mission, asOf: asOf, deployment: planned))
    }

    func evaluate(mission: String, request: Data) throws -> [UnmetRequirement] {
        guard let evaluator else {
            throw RegistryError(
                .readinessUnavailable, "no mission modules are loaded to judge readiness for \(mission)")
        }
        do {
            return try evaluator.evaluateReadiness(mission: mission, request: request)
        } catch let error as RegistryError {
            throw error
        } catch {
            throw RegistryError(.readinessUnavailable, "readiness for \(mission) could not be judged: \(error)")
        }
    }

    private func requireMission(_ code: String) throws {
        guard try database.read({ db in try Mission.exists(db, key: code) }) else {
            throw RegistryError(.notFound, "no mission \(code)")
        }
    }

    /// The request for moving deployment `id` to IN_TRANSIT on `date` (judged as of its start, or
    /// `date` if that is later).
    func transitRequest(_ db: Database, deploymentId id: Int64, on date: CalendarDate) throws -> (
        mission: String, data: Data
    ) {
        guard let deployment = try Deployment.fetchOne(db, key: id) else {
            throw RegistryError(.notFound, "no deployment \(id)")
        }
        let asOf = max(date, deployment.plannedStart)
        let body: (String, JSONValue)
        if let personId = deployment.personId, let person = try Person.fetchOne(db, key: personId) {
            body = ("person", try Self.personObject(db, person))
        } else if let code = deployment.contingent {
            body = ("contingent", try Self.contingentObject(db, code: code, mission: deployment.mission, asOf: asOf))
        } else {
            throw RegistryError(.notFound, "deployment \(id) has no subject")
        }
        let data = Self.request(
            subject: body.0, mission: deployment.mission, asOf: asOf, deployment: deployment, body: body)
        return (deployment.mission, data)
    }

    private static func request(
        subject: String, mission: String, asOf: CalendarDate, deployment: Deployment?, body: (String, JSONValue)
    ) -> Data {
        var members: [String: JSONValue] = [
            "subject": .string(subject), "mission": .string(mission), "asOf": .string(asOf.description),
            body.0: body.1,
        ]
        if let deployment {
            members["deployment"] = [
                "role": .string(deployment.role), "drawdownRole": .bool(deployment.drawdownRole),
                "start": .string(deployment.plannedStart.description),
                "end": .string(deployment.plannedEnd.description),
            ]
        }
        return JSONValue.object(members).jsonData
    }

    /// The full person object of the ABI (with medical qualifications and date of birth).
    static func personObject(_ db: Database, _ person: Person) throws -> JSONValue {
        let qualifications = try Qualification.filter(Qualification.Columns.personId == person.id)
            .order(Column("id")).fetchAll(db)
        return personObject(person, qualifications: qualifications)
    }

    static func personObject(_ person: Person, qualifications: [Qualification]) -> JSONValue {
        var object: [String: JSONValue] = [
            "serviceNumber": .string(person.serviceNumber), "contingent": .string(person.contingent),
            "nationality": .string(person.nationality), "category": .string(person.category.rawValue),
            "rank": .string(person.rank), "sex": .string(person.sex.rawValue),
            "latinName": .string(person.latinName),
            "languages": .array(
                person.languages.map { ["code": .string($0.code), "level": .string($0.level.rawValue)] }),
            "qualifications": .array(
                qualifications.map { qualification in
                    var item: [String: JSONValue] = [
                        "kind": .string(qualification.kind.rawValue), "code": .string(qualification.code),
                        "issuedOn": .string(qualification.issuedOn.description),
                    ]
                    if let expires = qualification.expiresOn { item["expiresOn"] = .string(expires.description) }
                    if let level = qualification.level { item["level"] = .string(level) }
                    if let provider = qualification.provider { item["provider"] = .string(provider) }
                    return .object(item)
                }),
        ]
        if let name = person.cyrillicName { object["cyrillicName"] = .string(name) }
        if let code = person.rankCode { object["rankCode"] = .string(code) }
        if let years = person.commissionedServiceYears { object["commissionedServiceYears"] = .number(Double(years)) }
        if let birth = person.dateOfBirth { object["dateOfBirth"] = .string(birth.description) }
        return .object(object)
    }

    static func contingentObject(
        _ db: Database, code: String, mission: String, asOf: CalendarDate
    ) throws -> JSONValue {
        guard let contingent = try Contingent.fetchOne(db, key: code) else {
            throw RegistryError(.notFound, "no contingent \(code)")
        }
        let members = try Person.fetchAll(
            db,
            sql: """
                SELECT DISTINCT person.* FROM person JOIN deployment ON deployment.personId = person.id
                WHERE person.contingent = :code AND deployment.mission = :mission
                  AND deployment.status IN ('PLANNED', 'IN_TRANSIT', 'IN_MISSION', 'EXTENDED')
                  AND COALESCE(deployment.actualStart, deployment.plannedStart) <= :asOf
                  AND COALESCE(deployment.actualEnd, deployment.plannedEnd) >= :asOf
                ORDER BY person.serviceNumber
                """, arguments: ["code": code, "mission": mission, "asOf": asOf])
        let unit = try Deployment.fetchOne(
            db,
            sql: """
                SELECT * FROM deployment WHERE contingent = :code AND mission = :mission
                  AND status IN ('PLANNED', 'IN_TRANSIT', 'IN_MISSION', 'EXTENDED')
                ORDER BY (COALESCE(actualStart, plannedStart) <= :asOf AND plannedEnd >= :asOf) DESC, id DESC
                LIMIT 1
                """, arguments: ["code": code, "mission": mission, "asOf": asOf])
        var object: [String: JSONValue] = [
            "code": .string(contingent.code), "name": .string(contingent.name),
            "pcrsLevel": .string(contingent.pcrsLevel.rawValue),
            "members": .array(try members.map { try personObject(db, $0) }),
        ]
        if let lead = unit?.leadNation { object["leadNation"] = .string(lead) }
        if let host = unit?.hostUnit { object["hostUnit"] = .string(host) }
        return .object(object)
    }
}
