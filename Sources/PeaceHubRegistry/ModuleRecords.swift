import Foundation
import GRDB
import PeaceHubCore

extension Registry {
    /// The record a mission module asks for through `host->registry_get` (docs/abi.md,
    /// "Registry records"): `person` by service number (the shared view: no date of birth, no medical
    /// qualifications), `contingent` by ISO 3166 alpha-3 code, `mission` by code (lifecycle today).
    ///
    /// - Returns: the JSON object, or `nil` when no record has that key.
    /// - Throws: `invalidInput` for an unknown kind.
    public func moduleRecord(kind: String, key: String) throws -> Data? {
        switch kind {
        case "person":
            let record = try database.read { db -> PersonRecord? in
                guard let person = try Person.filter(Person.Columns.serviceNumber == key).fetchOne(db) else {
                    return nil
                }
                let qualifications = try Qualification.filter(Qualification.Columns.personId == person.id)
                    .order(Column("id")).fetchAll(db)
                return PersonRecord(person: person, qualifications: qualifications).shared
            }
            return record.map { Self.personObject($0.person, qualifications: $0.qualifications).jsonData }
        case "contingent":
            return try database.read { db -> Data? in
                guard let contingent = try Contingent.fetchOne(db, key: key) else { return nil }
                let lead = try String.fetchOne(
                    db,
                    sql: """
                        SELECT leadNation FROM deployment WHERE contingent = ? AND leadNation IS NOT NULL
                        AND status IN ('PLANNED', 'IN_TRANSIT', 'IN_MISSION', 'EXTENDED') ORDER BY id DESC LIMIT 1
                        """, arguments: [key])
                let object: JSONValue = [
                    "code": .string(contingent.code), "name": .string(contingent.name),
                    "pcrsLevel": .string(contingent.pcrsLevel.rawValue),
                    "leadNation": lead.map(JSONValue.string) ?? .null,
                ]
                return object.jsonData
            }
        case "mission":
            let status: MissionStatus
            do {
                status = try mission(code: key, on: CalendarDate(now()))
            } catch let error as RegistryError where error.code == .notFound {
                return nil
            }
            let object: JSONValue = [
                "code": .string(status.mission.code), "name": .string(status.mission.name),
                "lifecycle": status.lifecycle.map { .string($0.rawValue) } ?? .null,
                "lifecycleSince": status.lifecycleSince.map { .string($0.description) } ?? .null,
            ]
            return object.jsonData
        default:
            throw RegistryError(
                .invalidInput, "unknown registry record kind '\(cut(kind))' (person, contingent, mission)")
        }
    }
}
