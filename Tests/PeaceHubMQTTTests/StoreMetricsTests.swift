import MetricsTestKit
import PeaceHubCore
import PeaceHubTesting
import Testing

@testable import PeaceHubMQTT

/// The group commit's metrics, read through swift-metrics' test backend (shared by the whole test process).
@Suite struct StoreMetricsTests {
    @Test func eachGroupCommitIsTimedAndItsOperationsCounted() async throws {
        let metrics = TestMetricsBackend.metrics  // before the store makes its metrics
        let fixture = try StoreFixture()
        defer { fixture.directory.remove() }
        let store = try fixture.open()
        let timer = try metrics.expectTimer("peacehub_store_commit_duration_seconds")
        let timedBefore = timer.values.count

        // Three calls held behind the writer become one batch of 37 operations (a count no other test uses).
        let gate = await WriterGate.close(store)
        let sessions = (1...12).map { StoreOperation.createSession(clientID: "c\($0)", owner: .contingent("KAZ")) }
        let subscriptions = (1...12).map { StoreOperation.subscribe(clientID: "c\($0)", filter: "t/\($0)", qos: .atLeastOnce) }
        let calls = [
            SubmittedCommit(store, sessions), SubmittedCommit(store, subscriptions),
            SubmittedCommit(store, (1...13).map { .unsubscribe(clientID: "c1", filter: "x/\($0)") }),
        ]
        gate.open()
        for call in calls { _ = try await call.result().get() }

        #expect(timer.values.count >= timedBefore + 2)  // the gate's own batch and the 37
        #expect(timer.values.allSatisfy { $0 >= 0 })
        #expect(try metrics.expectRecorder("peacehub_store_commit_batch_operations").values.contains(37))
    }
}
