import Dispatch
import Foundation
import NIOCore
import PeaceHubCore
import PeaceHubPlugins
import PeaceHubServer
import PeaceHubTesting
import Synchronization
import Testing

/// Tells when a contingent's publication is being authorised: the broker hands the report to its mission
/// module right after, so from then on the publisher's PUBACK is under way.
final class ObservedMembership: MissionMembership {
    let base = TestMembership()
    let asked = DispatchSemaphore(value: 0)

    func isActive(contingent: String) -> Bool { base.isActive(contingent: contingent) }

    func activeMissions(of contingent: String) -> Set<String> {
        defer { if contingent == "KAZ" { asked.signal() } }
        return base.activeMissions(of: contingent)
    }
}

/// `HubServer.shutdown()`: the drain is bounded.
@Suite struct HubServerDrainTests {
    /// A report judged by a module that never answers, with a routing budget far beyond the drain bound: its
    /// PUBACK cannot come in time, so the drain waits the bound, closes the connection and the hub stops.
    @Test func aConnectionStillBusyAtTheBoundIsClosed() throws {
        let scratch = try TemporaryDirectory(prefix: "phub-drain")
        defer { scratch.remove() }
        let plugins = PluginHost()
        try plugins.load(manifest: try FixtureModules.build(.hang, into: scratch.url, id: "org.peacehub.hang", mission: "UNIFIL"))
        let membership = ObservedMembership()
        let hub = try LiveHub(plugins: plugins, membership: membership) { configuration in
            configuration.routingBudget = .seconds(300)
            configuration.shutdownTimeout = .seconds(1)
        }
        defer { hub.stop() }
        let publisher = Process()
        publisher.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        publisher.arguments =
            ["mosquitto_pub"] + hub.tlsArguments("KAZ") + ["-t", "missions/UNIFIL/reports/UXO", "-q", "1", "-m", #"{"body": {}}"#]
        publisher.standardOutput = FileHandle.nullDevice
        publisher.standardError = FileHandle.nullDevice
        try publisher.run()
        defer { publisher.terminate() }
        // mosquitto_pub does not subscribe: the membership is asked when its PUBLISH arrives.
        #expect(membership.asked.wait(timeout: .now() + 60) == .success)
        usleep(200_000)

        let started = ContinuousClock.now
        hub.server.shutdown()
        let took = ContinuousClock.now - started
        #expect(took >= .seconds(1), "the drain did not wait for the busy connection: \(took)")
        #expect(took < .seconds(10), "the drain was not bounded: \(took)")
        // The publisher never got its PUBACK: it is disconnected and gives up.
        let deadline = Date().addingTimeInterval(20)
        while publisher.isRunning, Date() < deadline { usleep(50_000) }
        #expect(!publisher.isRunning)
    }

    @Test func anIdleHubStopsAtOnceAndASecondShutdownReturns() throws {
        let hub = try LiveHub()
        defer { hub.stop() }
        let started = ContinuousClock.now
        hub.server.shutdown()
        hub.server.shutdown()
        #expect(ContinuousClock.now - started < .seconds(5))
    }
}
