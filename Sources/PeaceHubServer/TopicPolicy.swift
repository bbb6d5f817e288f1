import PeaceHubCore
import PeaceHubMQTT
import Synchronization

/// What the registry says about a contingent, asked on every packet so that a change there
/// (a new deployment, an ended one) applies to the packets that follow it.
public protocol MissionMembership: Sendable {
    /// True when the contingent is in the registry (one that is not may use nothing but its certificate).
    func isActive(contingent: String) -> Bool
    /// The missions in which the contingent has a deployment in progress.
    func activeMissions(of contingent: String) -> Set<String>
    /// A value that changes whenever the answers above may have changed, so that decisions made from them can be
    /// kept until it does; nil when there is none (then every packet asks again).
    func version() -> Int?
}

extension MissionMembership {
    public func version() -> Int? { nil }
}

/// The hub's topic namespace and who may do what in it (`docs/protocol.md`). Deny by default:
/// a principal may publish on a topic, or subscribe to a filter, only inside one of its own
/// patterns. A subscription filter must lie wholly inside one pattern (`TopicFilter.covers`),
/// so `missions/+/chat/#` is refused even to a contingent deployed in every mission.
///
/// Decisions are kept while the membership's `version()` stays the same (every PUBLISH asks: building and matching
/// the patterns per packet cost more than the rest of the broker's work on a small message).
public struct TopicPolicy: MQTTAuthorizer {
    public let membership: any MissionMembership
    private let decisions = Decisions()

    /// Decisions made at one membership version, bounded so that many distinct topics cannot grow it without end.
    private final class Decisions: Sendable {
        struct Key: Hashable {
            var publish: Bool
            var principal: Principal
            var topic: ExactString
        }

        static let limit = 10_000
        let table = Mutex<(version: Int?, decisions: [Key: Bool])>((nil, [:]))

        func decide(_ key: Key, version: Int?, _ decide: () -> Bool) -> Bool {
            guard let version else { return decide() }
            let kept = table.withLock { table -> Bool? in
                if table.version != version || table.decisions.count >= Self.limit { table = (version, [:]) }
                return table.decisions[key]
            }
            if let kept { return kept }
            let decision = decide()
            table.withLock { table in
                if table.version == version { table.decisions[key] = decision }
            }
            return decision
        }
    }

    public init(membership: any MissionMembership) {
        self.membership = membership
    }

    public func mayPublish(_ principal: Principal, topic: String) -> Bool {
        let key = Decisions.Key(publish: true, principal: principal, topic: ExactString(topic))
        return decisions.decide(key, version: membership.version()) {
            publishPatterns(for: principal).contains { TopicFilter.matches($0, topic: topic) }
        }
    }

    public func decisionVersion() -> Int? { membership.version() }

    public func maySubscribe(_ principal: Principal, filter: String) -> Bool {
        let key = Decisions.Key(publish: false, principal: principal, topic: ExactString(filter))
        return decisions.decide(key, version: membership.version()) {
            subscribePatterns(for: principal).contains { TopicFilter.covers($0, filter) }
        }
    }

    /// Reports and chat of the missions the contingent is deployed in; any contingent's inbox.
    /// Operators publish broadcasts and may write to inboxes. Only the hub publishes notices and
    /// `$SYS`.
    func publishPatterns(for principal: Principal) -> [String] {
        switch principal {
        case .contingent(let code):
            guard membership.isActive(contingent: code) else { return [] }
            return membership.activeMissions(of: code).sorted().flatMap {
                ["missions/\($0)/reports/+", "missions/\($0)/chat/#"]
            } + ["contingents/+/inbox"]
        case .operator:
            return ["hub/broadcast/#", "contingents/+/inbox"]
        }
    }

    /// A contingent reads its missions' reports and chat, its own inbox and notices, and
    /// broadcasts; operators read every mission's reports, broadcasts and `$SYS`.
    func subscribePatterns(for principal: Principal) -> [String] {
        switch principal {
        case .contingent(let code):
            guard membership.isActive(contingent: code) else { return [] }
            return membership.activeMissions(of: code).sorted().flatMap {
                ["missions/\($0)/reports/+", "missions/\($0)/chat/#"]
            } + ["contingents/\(code)/inbox", "contingents/\(code)/notices", "hub/broadcast/#"]
        case .operator:
            return ["missions/+/reports/+", "hub/broadcast/#", "$SYS/#"]
        }
    }
}
