import PeaceHubCore

/// The broker's handle on a live client connection.
public protocol BrokerConnection: AnyObject, Sendable {
    /// The session has something to send. Called from any thread; the connection then calls
    /// `Broker.outgoing` on its own event loop.
    func wakeUp()
    /// The hub ends the connection (session taken over, principal revoked, shutdown).
    func close(reason: String)
}

/// Who may publish and subscribe where. Asked on every PUBLISH and SUBSCRIBE, so an
/// implementation backed by the registry applies a change to the next packet.
public protocol MQTTAuthorizer: Sendable {
    func mayPublish(_ principal: Principal, topic: String) -> Bool
    func maySubscribe(_ principal: Principal, filter: String) -> Bool
}
