import Dispatch
import Foundation
import PeaceHubCore
import PeaceHubPlugins
import Synchronization
import Testing

/// The host may call a module from several threads at once: the verdicts must not depend on it.
@Suite struct ConcurrencyTests {
    @Test func concurrentJudgingGivesTheSameVerdicts() throws {
        let cases = ReportCase.all
        let expected = try cases.map { try Missions.judge($0.mission, $0.type, $0.body) }
        let mismatches = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 400) { index in
            let item = cases[index % cases.count]
            let verdict = try? Missions.judge(item.mission, item.type, item.body)
            if verdict != expected[index % cases.count] { mismatches.withLock { $0 += 1 } }
        }
        #expect(mismatches.withLock { $0 } == 0)
    }
}
