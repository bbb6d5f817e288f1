extension MQTTPacket.Connect: CustomStringConvertible, CustomDebugStringConvertible {
    /// Names the client and whether credentials came, never the password (nor the MQTT 5 properties, which may
    /// hold authentication data): a CONNECT printed into a log line or an error (directly or inside `MQTTPacket`)
    /// gives no secret away.
    public var description: String {
        "CONNECT(version: \(version), clientID: \(String(reflecting: clientID)), cleanStart: \(cleanStart), "
            + "keepAlive: \(keepAlive), username: \(username == nil ? "none" : "given"), "
            + "password: \(password == nil ? "none" : "<redacted>"), properties: \(properties.items.count))"
    }

    public var debugDescription: String { description }
}
