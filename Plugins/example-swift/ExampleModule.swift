import CPeaceHubABI
import Foundation
import PeaceHubCore
import PeaceHubPluginKit

/// The smallest complete Swift mission module, for module authors and the host's tests.
///
/// It accepts any JSON object report that names a `summary`, annotating it with the length of
/// the summary; it finds a person ready when they hold an unexpired `UN-CPTM` training.
public final class ExampleModule: MissionModule {
    public static let descriptor = ModuleDescriptor(
        id: "org.peacehub.example", mission: "EXAMPLE", version: "1.0.0", displayName: "Example mission module")

    let host: ModuleHost
    let greeting: String

    public init(context: ModuleContext) throws {
        host = context.host
        greeting = try context.host.configuration()["greeting"]?.stringValue ?? "hello"
        host.log(.info, "example module created")
    }

    public func judge(_ message: Message) -> Verdict {
        guard let report = message.json, report.objectValue != nil else {
            return .reject(.malformed, message: "the payload is not a JSON object")
        }
        guard let summary = report["summary"] else {
            return .reject(.missingField, message: "field 'summary' is required")
        }
        guard let text = summary.stringValue else {
            return .reject(.invalidValue, message: "field 'summary' must be a string")
        }
        return .accept(annotations: ["summaryLength": .number(Double(text.count))])
    }

    /// A person (`subject` "person"), or each member of a contingent (`subject` "contingent", the items then naming
    /// the member), needs `UN-CPTM` training valid on `asOf` (today when it is absent): docs/abi.md, section 8.
    public func readiness(_ request: JSONValue) throws -> [UnmetRequirement] {
        let asOf = request["asOf"]?.stringValue ?? ISO8601DateFormatter.dateOnly.string(from: host.now())
        switch request["subject"]?.stringValue {
        case "person":
            guard let person = request["person"], person.objectValue != nil else {
                throw ModuleError.invalidArgument("field 'person' is required")
            }
            return unmet(person, asOf: asOf)
        case "contingent":
            guard let members = request["contingent"]?["members"]?.arrayValue else {
                throw ModuleError.invalidArgument("field 'contingent.members' is required")
            }
            return members.flatMap { member in
                unmet(member, asOf: asOf).map { item in
                    var item = item
                    item.serviceNumber = member["serviceNumber"]?.stringValue
                    return item
                }
            }
        default:
            throw ModuleError.invalidArgument("field 'subject' must be person or contingent")
        }
    }

    private func unmet(_ person: JSONValue, asOf: String) -> [UnmetRequirement] {
        let trained = (person["qualifications"]?.arrayValue ?? []).contains { qualification in
            qualification["code"]?.stringValue == "UN-CPTM"
                && (qualification["expiresOn"]?.stringValue).map { $0 >= asOf } ?? true
        }
        return trained ? [] : [UnmetRequirement(code: "TRAINING_CPTM", message: "core pre-deployment training (UN-CPTM) is missing or expired")]
    }

    public func run(command: String, arguments: JSONValue) throws -> JSONValue {
        switch command {
        case "describe":
            return ["mission": "EXAMPLE", "greeting": .string(greeting)]
        case "echo":
            return arguments
        default:
            throw ModuleError.unsupported("unknown command '\(command)'")
        }
    }
}

extension ISO8601DateFormatter {
    /// `yyyy-MM-dd` in UTC.
    fileprivate static var dateOnly: ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate]
        return formatter
    }
}

@_cdecl("phub_plugin_entry_v1")
public func peacehubEntry(_ hostMajor: UInt32, _ hostMinor: UInt32) -> UnsafeRawPointer? {
    PluginExport.entry(ExampleModule.self, hostMajor: hostMajor, hostMinor: hostMinor)
}
