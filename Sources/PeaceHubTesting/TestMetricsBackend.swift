import CoreMetrics
import MetricsTestKit

/// The test process's one metrics backend (swift-metrics' `TestMetrics`).
///
/// swift-metrics takes one bootstrap per process and every test target runs in one process, so each test that
/// reads metrics uses this. Touch it before creating the objects whose metrics a test reads: a metric made
/// before the bootstrap stays a no-op. Tests run in parallel and share it: compare values before and after.
public enum TestMetricsBackend {
    public static let metrics: TestMetrics = {
        let metrics = TestMetrics()
        MetricsSystem.bootstrap(metrics)
        return metrics
    }()
}
