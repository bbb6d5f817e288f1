import PeaceHubCore
import PeaceHubMQTT

/// What the registry says about a contingent, asked on every packet so that a change there
/// (a new deployment, a suspended contingent) applies to the next one.
public protocol MissionMembership: Sendable {
    /// True when the contingent exists and is not suspended.
    func isActive(contingent: String) -> Bool
    /// The missions in which the contingent has a deployment in progress.
    func activeMissions(of contingent: String) -> Set<String>
}

/// The hub's topic namespace and who may do what in it (`docs/protocol.md`). Deny by default:
/// a principal may publish on a topic, or subscribe to a filter, only inside one of its own
/// patterns. A subscription filter must lie wholly inside one pattern (`TopicFilter.covers`),
/// so `missions/+/chat/#` is refused even to a contingent deployed in every mission.
public struct TopicPolicy: MQTTAuthorizer {
    public let membership: any MissionMembership

    public init(membership: any MissionMembership) {
        self.membership = membership
    }

    public func mayPublish(_ principal: Principal, topic: String) -> Bool {
        publishPatterns(for: principal).contains { TopicFilter.matches($0, topic: topic) }
    }

    public func maySubscribe(_ principal: Principal, filter: String) -> Bool {
        subscribePatterns(for: principal).contains { TopicFilter.covers($0, filter) }
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
