import Foundation
import MetricsTestKit
import PeaceHubCore
import PeaceHubPlugins
import PeaceHubServer
import PeaceHubTesting
import Testing

/// The mission router's metrics, read through swift-metrics' test backend (shared by the whole test process:
/// counters are compared before and after; the fixture missions are this suite's own).
@Suite struct RouterMetricsTests {
    let metrics = TestMetricsBackend.metrics

    func verdicts(_ mission: String, _ verdict: String, _ reason: String) -> Int64 {
        let dimensions = [("mission", mission), ("verdict", verdict), ("reason", reason)]
        return (try? metrics.expectCounter("peacehub_module_verdicts_total", dimensions).totalValue) ?? 0
    }

    func calls(_ mission: String) -> Int {
        (try? metrics.expectTimer("peacehub_module_call_duration_seconds", [("mission", mission)]).values.count) ?? 0
    }

    @Test func acceptedAndRejectedReportsAreCountedAndTimed() throws {
        _ = metrics
        let plugins = PluginHost()
        plugins.loadDirectory(TestEnvironment.pluginsDirectory)
        let router = MissionRouter(plugins: plugins, archive: nil)
        let before = (
            accepted: verdicts("UNIFIL", "accepted", "none"), missing: verdicts("UNIFIL", "rejected", "MISSING_FIELD"),
            malformed: verdicts("UNIFIL", "rejected", "MALFORMED"), calls: calls("UNIFIL")
        )
        _ = try decide(router, report("missions/UNIFIL/reports/UXO", MissionRouterTests.validUXO))
        var body = MissionRouterTests.validUXO["body"]!.objectValue!
        body["location"] = nil
        _ = try decide(router, report("missions/UNIFIL/reports/UXO", ["precedence": "ROUTINE", "body": .object(body)]))
        _ = try decide(router, report("missions/UNIFIL/reports/UXO", ["no": "envelope"]))

        #expect(verdicts("UNIFIL", "accepted", "none") >= before.accepted + 1)
        #expect(verdicts("UNIFIL", "rejected", "MISSING_FIELD") >= before.missing + 1)
        #expect(verdicts("UNIFIL", "rejected", "MALFORMED") >= before.malformed + 1)
        #expect(calls("UNIFIL") >= before.calls + 2)  // the malformed envelope never reached the module
    }

    @Test func heldReportsAreCountedWithWhy() throws {
        _ = metrics
        let scratch = try TemporaryDirectory(prefix: "phub-router-metrics")
        defer { scratch.remove() }
        let plugins = PluginHost()
        try plugins.load(manifest: try FixtureModules.build(.hang, into: scratch.url, id: "org.peacehub.m-hang", mission: "MHANG"))
        try plugins.load(manifest: try FixtureModules.build(.garbage, into: scratch.url, id: "org.peacehub.m-bad", mission: "MBAD"))
        // A budget longer than `decide` waits: only the reload below lets the hung module's report be held.
        let router = MissionRouter(plugins: plugins, archive: nil, budget: .seconds(300))
        router.budget = .milliseconds(200)

        _ = try decide(router, report("missions/MHANG/reports/X", ["body": ["a": 1]]))
        _ = try decide(router, report("missions/MBAD/reports/X", ["body": ["a": 1]]))
        _ = try decide(router, report("missions/MNONE/reports/X", ["body": ["a": 1]]))

        #expect(verdicts("MHANG", "held", "timeout") == 1)
        #expect(verdicts("MBAD", "held", "failed") == 1)
        #expect(verdicts("MNONE", "held", "no_module") == 1)
        #expect(calls("MBAD") == 1)
        #expect(calls("MHANG") == 0)  // still running
    }
}
