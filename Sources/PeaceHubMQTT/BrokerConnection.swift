import PeaceHubCore

/// The broker's handle on a live client connection.
public protocol BrokerConnection: AnyObject, Sendable {
    /// The session has something to send. Called from any thread; the connection then calls
    /// `Broker.outgoing` on its own event loop.
    func wakeUp()
    /// The hub ends the connection (session taken over, queue full, an operator's action); a 5.0 client is
    /// sent a DISCONNECT with `code` first.
    func close(_ code: ReasonCode, reason: String)
}

/// Who may publish and subscribe where. Asked on every PUBLISH and SUBSCRIBE, so an
/// implementation backed by the registry applies a change to the packets that follow it (the hub's within a
/// millisecond of the commit).
public protocol MQTTAuthorizer: Sendable {
    func mayPublish(_ principal: Principal, topic: String) -> Bool
    func maySubscribe(_ principal: Principal, filter: String) -> Bool
    /// A value that changes whenever a decision may change; nil when decisions must not be kept. While it stays
    /// the same, a connection publishing on the topic of its last PUBLISH reuses that decision. Read once per
    /// burst of PUBLISHes (one read from the socket).
    func decisionVersion() -> Int?
}

extension MQTTAuthorizer {
    public func decisionVersion() -> Int? { nil }
}

/// What a `PublishInterceptor` decided about a message.
public enum InterceptDecision: Sendable {
    /// Deliver this message (the original, or one with annotations added).
    case deliver(BrokerMessage)
    /// Do not deliver; the sender is told `reason` on its notices topic.
    case reject(code: String, reason: String)
    /// The judge failed or ran out of time: the interceptor kept the message for an operator,
    /// and the sender is told `reason`.
    case hold(reason: String)
    /// The interceptor could not keep the message as it must (its archive failed): a PUBLISH is neither delivered
    /// nor acknowledged, and the connection closes, so that the sender sends it again; a will, which nobody can
    /// send again, goes as `decided`.
    indirect case failed(reason: String, decided: InterceptDecision)
}

/// Why a packet went unanswered: its connection no longer holds the session, which a newer connection with the
/// same client id took over. The connection is being closed (DISCONNECT 0x8E).
public struct SessionTakenOver: Error, CustomStringConvertible {
    public var clientID: String
    public var description: String { "session taken over by a new connection with client id \(clientID)" }
}

/// Why a message an interceptor could not keep was not acknowledged (`InterceptDecision.failed`).
public struct InterceptorFailure: Error, CustomStringConvertible {
    public var description: String
}

/// Judges messages on the topics it claims before anyone receives them (the mission modules).
/// Runs off the event loops; the publisher's acknowledgement waits for the decision. A class: the broker asks it
/// about every PUBLISH, and a reference is all the broker keeps of it.
public protocol PublishInterceptor: AnyObject, Sendable {
    func claims(topic: String) -> Bool
    func intercept(
        _ message: BrokerMessage, principal: Principal, completion: @escaping @Sendable (InterceptDecision) -> Void)
}
