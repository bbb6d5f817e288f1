import Foundation
import Logging
import PeaceHubCore
import PeaceHubRegistry

/// Mission membership read from the registry on every call, so a registry change applies to the
/// next packet without a restart.
public struct RegistryMembership: MissionMembership {
    public let registry: Registry
    private let logger: Logger

    public init(registry: Registry, logger: Logger = Logger(label: "peacehub.server")) {
        self.registry = registry
        self.logger = logger
    }

    public func isActive(contingent: String) -> Bool {
        (try? registry.contingent(code: contingent)) != nil
    }

    public func activeMissions(of contingent: String) -> Set<String> {
        do {
            return try registry.activeMissions(of: contingent)
        } catch {
            // Deny by default: a registry that cannot answer grants nothing.
            logger.error("registry lookup failed", metadata: ["contingent": "\(contingent)", "error": "\(error)"])
            return []
        }
    }
}

/// The registry's report archive behind the mission router.
public struct RegistryReportArchive: ReportArchive {
    public let registry: Registry

    public init(registry: Registry) {
        self.registry = registry
    }

    public func archive(_ report: ArchivedMissionReport) throws {
        let location = report.body["location"]
        let sender: String =
            switch report.sender {
            case .contingent(let code): code
            case .operator: report.sender.description
            }
        _ = try registry.archiveReport(
            ArchivedReport(
                mission: report.mission, type: report.reportType, sender: sender,
                receivedAt: ArchivedReport.timestamp(report.receivedAt), precedence: report.precedence?.name ?? "ROUTINE",
                securityLabel: report.securityLabel, latitude: location?["lat"]?.numberValue,
                longitude: location?["lon"]?.numberValue, body: String(decoding: report.body.jsonData, as: UTF8.self),
                annotations: report.annotations.isEmpty
                    ? nil : String(decoding: JSONValue.object(report.annotations).jsonData, as: UTF8.self),
                status: report.status, reason: report.reason))
    }
}
