import PeaceHubCore
import PeaceHubServer
import Synchronization
import Testing

/// A registry stand-in the test can change between packets.
final class TestMembership: MissionMembership {
    let deployments = Mutex<[String: Set<String>]>(["KAZ": ["UNIFIL"], "IND": ["UNIFIL"], "TJK": []])
    let suspended = Mutex<Set<String>>([])

    func isActive(contingent: String) -> Bool {
        deployments.withLock { $0[contingent] != nil } && !suspended.withLock { $0.contains(contingent) }
    }

    func activeMissions(of contingent: String) -> Set<String> { deployments.withLock { $0[contingent] ?? [] } }
}

/// Every rule of docs/protocol.md with an allowed and a refused case.
@Suite struct TopicPolicyTests {
    let membership = TestMembership()
    var policy: TopicPolicy { TopicPolicy(membership: membership) }
    let kaz = Principal.contingent("KAZ")
    let tjk = Principal.contingent("TJK")
    let ops = Principal.operator("duty")

    @Test func missionReports() {
        #expect(policy.mayPublish(kaz, topic: "missions/UNIFIL/reports/UXO"))
        #expect(!policy.mayPublish(tjk, topic: "missions/UNIFIL/reports/UXO"))  // not deployed
        #expect(!policy.mayPublish(kaz, topic: "missions/UNFICYP/reports/UXO"))
        #expect(!policy.mayPublish(kaz, topic: "missions/UNIFIL/reports/UXO/extra"))
        #expect(!policy.mayPublish(ops, topic: "missions/UNIFIL/reports/UXO"))
        #expect(policy.maySubscribe(kaz, filter: "missions/UNIFIL/reports/+"))
        #expect(policy.maySubscribe(ops, filter: "missions/+/reports/+"))
        #expect(!policy.maySubscribe(kaz, filter: "missions/+/reports/+"))
        #expect(!policy.maySubscribe(tjk, filter: "missions/UNIFIL/reports/UXO"))
    }

    @Test func missionChat() {
        #expect(policy.mayPublish(kaz, topic: "missions/UNIFIL/chat/general"))
        #expect(!policy.mayPublish(tjk, topic: "missions/UNIFIL/chat/general"))
        #expect(policy.maySubscribe(kaz, filter: "missions/UNIFIL/chat/#"))
        #expect(!policy.maySubscribe(tjk, filter: "missions/UNIFIL/chat/#"))
        #expect(!policy.maySubscribe(ops, filter: "missions/UNIFIL/chat/#"))
    }

    @Test func inboxes() {
        #expect(policy.mayPublish(tjk, topic: "contingents/KAZ/inbox"))
        #expect(policy.mayPublish(ops, topic: "contingents/KAZ/inbox"))
        #expect(!policy.mayPublish(kaz, topic: "contingents/KAZ/inbox/x"))
        #expect(policy.maySubscribe(kaz, filter: "contingents/KAZ/inbox"))
        #expect(!policy.maySubscribe(tjk, filter: "contingents/KAZ/inbox"))
        #expect(!policy.maySubscribe(kaz, filter: "contingents/+/inbox"))
    }

    @Test func notices() {
        #expect(!policy.mayPublish(kaz, topic: "contingents/KAZ/notices"))
        #expect(!policy.mayPublish(ops, topic: "contingents/KAZ/notices"))
        #expect(policy.maySubscribe(kaz, filter: "contingents/KAZ/notices"))
        #expect(!policy.maySubscribe(tjk, filter: "contingents/KAZ/notices"))
    }

    @Test func broadcastAndSys() {
        #expect(policy.mayPublish(ops, topic: "hub/broadcast/weather"))
        #expect(!policy.mayPublish(kaz, topic: "hub/broadcast/weather"))
        #expect(policy.maySubscribe(kaz, filter: "hub/broadcast/#"))
        #expect(policy.maySubscribe(tjk, filter: "hub/broadcast/weather"))
        #expect(policy.maySubscribe(ops, filter: "$SYS/#"))
        #expect(!policy.maySubscribe(kaz, filter: "$SYS/#"))
        #expect(!policy.mayPublish(ops, topic: "$SYS/broker/uptime"))
        #expect(!policy.maySubscribe(kaz, filter: "#"))
        #expect(!policy.maySubscribe(ops, filter: "#"))
    }

    @Test func registryChangesApplyToTheNextPacket() {
        #expect(!policy.mayPublish(tjk, topic: "missions/UNFICYP/chat/x"))
        membership.deployments.withLock { $0["TJK"] = ["UNFICYP"] }
        #expect(policy.mayPublish(tjk, topic: "missions/UNFICYP/chat/x"))
        membership.suspended.withLock { _ = $0.insert("TJK") }
        #expect(!policy.mayPublish(tjk, topic: "missions/UNFICYP/chat/x"))
        #expect(!policy.mayPublish(tjk, topic: "contingents/KAZ/inbox"))
        #expect(!policy.maySubscribe(tjk, filter: "hub/broadcast/#"))
        #expect(!policy.mayPublish(Principal.contingent("XXX"), topic: "contingents/KAZ/inbox"))
    }

    /// With a membership version, decisions are kept until the version changes, and only then asked again.
    @Test func decisionsAreKeptUntilTheMembershipVersionChanges() {
        let versioned = VersionedMembership()
        let policy = TopicPolicy(membership: versioned)
        #expect(!policy.mayPublish(tjk, topic: "missions/UNFICYP/chat/x"))
        #expect(!policy.maySubscribe(tjk, filter: "missions/UNFICYP/chat/#"))
        let asked = versioned.questions.withLock { $0 }
        versioned.deployments.withLock { $0["TJK"] = ["UNFICYP"] }
        // Same version: the kept decisions, without asking the membership.
        #expect(!policy.mayPublish(tjk, topic: "missions/UNFICYP/chat/x"))
        #expect(!policy.maySubscribe(tjk, filter: "missions/UNFICYP/chat/#"))
        #expect(versioned.questions.withLock { $0 } == asked)
        versioned.current.withLock { $0 += 1 }
        #expect(policy.mayPublish(tjk, topic: "missions/UNFICYP/chat/x"))
        #expect(policy.maySubscribe(tjk, filter: "missions/UNFICYP/chat/#"))
        #expect(versioned.questions.withLock { $0 } > asked)
    }
}

/// A stand-in with a version, as the registry has, counting the questions it answers.
final class VersionedMembership: MissionMembership {
    let deployments = Mutex<[String: Set<String>]>(["TJK": []])
    let current = Mutex(1)
    let questions = Mutex(0)

    func isActive(contingent: String) -> Bool {
        questions.withLock { $0 += 1 }
        return deployments.withLock { $0[contingent] != nil }
    }

    func activeMissions(of contingent: String) -> Set<String> {
        questions.withLock { $0 += 1 }
        return deployments.withLock { $0[contingent] ?? [] }
    }

    func version() -> Int? { current.withLock { $0 } }
}
