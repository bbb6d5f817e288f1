import Testing

@testable import PeaceHubServer

/// The router recognises `missions/<CODE>/reports/<TYPE>` from a topic's bytes, and nothing else.
@Suite struct ReportTopicTests {
    @Test func aReportTopicGivesItsMissionAndType() {
        #expect(MissionRouter.reportTopic("missions/UNIFIL/reports/patrol")! == ("UNIFIL", "patrol"))
        #expect(MissionRouter.reportTopic("missions/M/reports/x")! == ("M", "x"))
        // Claimed with no type, so that the router rejects it rather than let it through unjudged.
        #expect(MissionRouter.reportTopic("missions/UNIFIL/reports/")! == ("UNIFIL", ""))
    }

    @Test func otherTopicsAreNotReports() {
        for topic in [
            "", "missions", "missions/", "missions//reports/patrol", "missions/UNIFIL", "missions/UNIFIL/reports",
            "missions/UNIFIL/reports/patrol/extra", "missions/UNIFIL/report/patrol",
            "missions/UNIFIL/chat", "mission/UNIFIL/reports/patrol", "Missions/UNIFIL/reports/patrol",
            "contingents/KAZ/inbox", "missions/UNIFIL/reportsX/patrol",
        ] {
            #expect(MissionRouter.reportTopic(topic) == nil, "\(topic)")
        }
    }
}
