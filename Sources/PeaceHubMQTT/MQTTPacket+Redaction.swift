extension MQTTPacket.Connect: CustomStringConvertible, CustomDebugStringConvertible {
    /// Names the client and whether credentials came, never the password: a CONNECT printed into a log line or
    /// an error (directly or inside `MQTTPacket`) gives no secret away.
    public var description: String {
        "CONNECT(clientID: \(String(reflecting: clientID)), cleanSession: \(cleanSession), keepAlive: \(keepAlive), "
            + "username: \(username == nil ? "none" : "given"), password: \(password == nil ? "none" : "<redacted>"))"
    }

    public var debugDescription: String { description }
}
