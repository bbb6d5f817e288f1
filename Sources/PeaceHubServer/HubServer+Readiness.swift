import NIOCore

extension HubServer {
    /// True while the MQTT listener is bound and accepting.
    public var isListening: Bool { channel.isActive }

    /// Reads from the broker store; throws when it cannot (the readiness check of the monitoring listener).
    public func probeStore() throws {
        try store.probe()
    }
}
