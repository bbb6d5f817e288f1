import Foundation
import PeaceHubCore

/// Export formats: the same CSV and JSON the importer reads, so an export can be imported elsewhere.
public enum RegistryExport {
    /// Persons as CSV (the importer's persons columns).
    public static func personsCSV(_ records: [PersonRecord]) -> String {
        var text = CSV.line([
            "serviceNumber", "latinName", "cyrillicName", "sex", "nationality", "contingent", "rank", "rankCode",
            "category", "dateOfBirth", "commissionedServiceYears", "languages",
        ])
        for record in records {
            let person = record.person
            text += CSV.line([
                person.serviceNumber, person.latinName, person.cyrillicName ?? "", person.sex.rawValue,
                person.nationality, person.contingent, person.rank, person.rankCode ?? "", person.category.rawValue,
                person.dateOfBirth?.description ?? "", person.commissionedServiceYears.map(String.init) ?? "",
                person.languages.map { "\($0.code):\($0.level.rawValue)" }.joined(separator: ";"),
            ])
        }
        return text
    }

    /// Qualifications as CSV (the importer's qualifications columns).
    public static func qualificationsCSV(_ records: [PersonRecord]) -> String {
        var text = CSV.line([
            "serviceNumber", "kind", "code", "provider", "issuedOn", "expiresOn", "evidenceHash", "level",
        ])
        for record in records {
            for qualification in record.qualifications {
                text += CSV.line([
                    record.person.serviceNumber, qualification.kind.rawValue, qualification.code,
                    qualification.provider ?? "", qualification.issuedOn.description,
                    qualification.expiresOn?.description ?? "", qualification.evidenceHash ?? "",
                    qualification.level ?? "",
                ])
            }
        }
        return text
    }

    /// Persons with nested qualifications as a JSON array, one person per line.
    public static func json(_ records: [PersonRecord]) -> String {
        let lines = records.map { record -> String in
            let person = record.person
            var object: [String: JSONValue] = [
                "serviceNumber": .string(person.serviceNumber), "latinName": .string(person.latinName),
                "sex": .string(person.sex.rawValue), "nationality": .string(person.nationality),
                "contingent": .string(person.contingent), "rank": .string(person.rank),
                "category": .string(person.category.rawValue),
                "languages": .array(
                    person.languages.map { ["code": .string($0.code), "level": .string($0.level.rawValue)] }),
                "qualifications": .array(
                    record.qualifications.map { qualification in
                        var item: [String: JSONValue] = [
                            "kind": .string(qualification.kind.rawValue), "code": .string(qualification.code),
                            "issuedOn": .string(qualification.issuedOn.description),
                        ]
                        if let value = qualification.provider { item["provider"] = .string(value) }
                        if let value = qualification.expiresOn { item["expiresOn"] = .string(value.description) }
                        if let value = qualification.evidenceHash { item["evidenceHash"] = .string(value) }
                        if let value = qualification.level { item["level"] = .string(value) }
                        return .object(item)
                    }),
            ]
            if let value = person.cyrillicName { object["cyrillicName"] = .string(value) }
            if let value = person.rankCode { object["rankCode"] = .string(value) }
            if let value = person.dateOfBirth { object["dateOfBirth"] = .string(value.description) }
            if let value = person.commissionedServiceYears {
                object["commissionedServiceYears"] = .number(Double(value))
            }
            return String(decoding: JSONValue.object(object).jsonData, as: UTF8.self)
        }
        return lines.isEmpty ? "[]\n" : "[\n" + lines.joined(separator: ",\n") + "\n]\n"
    }
}
