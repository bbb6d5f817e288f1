import Foundation
import PeaceHubCore
import PeaceHubPlugins
import Testing

/// `describe`, `requirements` and `validate-report` through the built modules.
@Suite struct CommandTests {
    @Test func describeUNIFIL() throws {
        let result = try Missions.module("UNIFIL").command("describe")
        #expect(result["mission"] == "UNIFIL")
        #expect(result["name"] == "United Nations Interim Force in Lebanon")
        #expect(result["mandate"]?.stringValue?.contains("Lebanese Armed Forces") == true)
        #expect(result["headquarters"]?["current"]?["name"] == "Naqoura")
        #expect(result["lifecycle"]?["phase"] == "ACTIVE")
        let phases = try #require(result["lifecycle"]?["phases"]?.arrayValue)
        #expect(phases.map { $0["phase"] } == ["ACTIVE", "DRAWDOWN", "LIQUIDATION"])
        #expect(phases[1]["from"] == "2027-01-01")
        #expect(result["allowedCategories"] == ["MILITARY_OBSERVER", "STAFF_OFFICER", "TROOP"])
        #expect(result["defaultTourMonths"]?["TROOP"] == 6)
        #expect(result["reportTypes"]?.arrayValue?.count == 8)
        let files = try #require(result["dataFiles"]?.arrayValue)
        #expect(
            files.compactMap { $0["file"]?.stringValue }.sorted()
                == [
                    "area.geojson", "blue-line.geojson", "mission.json", "reports.json", "requirements.json",
                    "sites.geojson",
                ])
        #expect(files.allSatisfy { $0["version"]?.stringValue?.isEmpty == false && $0["validFrom"] != nil })
        #expect(files.first { $0["file"] == "area.geojson" }?["version"] == "1.1.0", "the Tyre and Metula fixes")
        #expect(
            files.first { $0["file"] == "blue-line.geojson" }?["note"]?.stringValue?.contains("without prejudice")
                == true)
    }

    @Test(arguments: [
        ("UNFICYP", ["STAFF_OFFICER", "POLICE", "TROOP"], "Nicosia (UN Protected Area)"),
        ("UNMOGIP", ["MILITARY_OBSERVER"], "Islamabad"),  // the winter seat on 2026-11-27
        ("MINURSO", ["MILITARY_OBSERVER"], "Laayoune"),
    ])
    func describeOtherMissions(mission: String, categories: [String], headquarters: String) throws {
        let result = try Missions.module(mission).command("describe")
        #expect(Set(result["allowedCategories"]?.arrayValue?.compactMap(\.stringValue) ?? []) == Set(categories))
        #expect(result["headquarters"]?["current"]?["name"] == .string(headquarters))
        #expect(result["lifecycle"]?["phase"] == "ACTIVE")
    }

    @Test func requirementsAreTheDataFile() throws {
        let result = try Missions.module("UNIFIL").command("requirements")
        #expect(result["deploymentDeadline"]?["latestEnd"] == "2026-12-31")
        #expect(result["categories"]?["MILITARY_OBSERVER"]?["minimumRankCode"] == "OF-2")
        #expect(result["version"] == "1.0.0")
    }

    @Test func validateReportAcceptsAndRejects() throws {
        let module = try Missions.module("MINURSO")
        let body = ReportTests.report("MINURSO", "MINE_UXO")
        let accepted = try module.command(
            "validate-report",
            arguments: ["type": "MINE_UXO", "precedence": "PRIORITY", "securityLabel": "UN RESTRICTED", "body": body])
        #expect(accepted["accepted"] == true)
        #expect(accepted["annotations"]?["zone"] == "RESTRICTED_AREA_EAST")
        #expect(accepted["warning"] == .null)

        let rejected = try module.command(
            "validate-report",
            arguments: ["type": "MINE_UXO", "precedence": "URGENT", "securityLabel": "UN RESTRICTED", "body": body])
        #expect(
            rejected == [
                "accepted": false, "reason": "INVALID_VALUE",
                "message": "field 'precedence' must be one of ROUTINE, PRIORITY, IMMEDIATE, FLASH, not 'URGENT'",
            ])
        let missing = try module.command(
            "validate-report",
            arguments: ["type": "MINE_UXO", "precedence": "FLASH", "body": body.setting("marked", nil)])
        #expect(missing["reason"] == "MISSING_FIELD")
        #expect(missing["message"] == "field 'securityLabel' is required (e.g. UN RESTRICTED)")
    }

    @Test func unknownCommandsAndBadArguments() throws {
        let module = try Missions.module("UNFICYP")
        do {
            _ = try module.command("launch")
            Issue.record("ran an unknown command")
        } catch {
            #expect(error.code == .unsupported)
        }
        do {
            _ = try module.command("validate-report", arguments: ["body": [:]])
            Issue.record("validated a report without a type")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.reason.hasPrefix("argument 'type' is required"))
        }
    }
}
