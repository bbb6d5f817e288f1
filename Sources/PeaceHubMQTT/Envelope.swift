import NIOCore
import PeaceHubCore

/// The MQTT 3.1.1 JSON envelope of `docs/protocol.md`:
/// `{"precedence": "FLASH", "securityLabel": "UN RESTRICTED", "body": {...}}`.
/// MQTT 5 clients may say the same with the user properties `precedence` and `security-label`.
public struct Envelope: Sendable {
    public var precedence: Precedence?
    public var securityLabel: String?

    /// The user property that carries a message's precedence (MQTT 5).
    public static let precedenceProperty = "precedence"
    /// The user property that carries a message's security label (MQTT 5).
    public static let securityLabelProperty = "security-label"

    /// Reads the envelope's header from a payload; `nil` when the payload is not an envelope.
    public static func header(of payload: ByteBuffer) -> Envelope? {
        payload.withUnsafeReadableBytes { bytes in
            // Most payloads are not envelopes: look for the key before parsing anything.
            guard bytes.first == UInt8(ascii: "{"),
                bytes.contains(utf8: #""precedence""#) || bytes.contains(utf8: #""securityLabel""#),
                // The parser the mission router reads reports with, so both read one document the same way.
                let members = (try? JSONValue(parsing: bytes))?.objectValue
            else { return nil }
            return Envelope(
                precedence: members["precedence"]?.stringValue.flatMap(Precedence.init(name:)),
                securityLabel: members["securityLabel"]?.stringValue)
        }
    }
}

extension Precedence {
    /// The precedence a message on `topic` is queued by: the one it declares (its `precedence` user property, MQTT
    /// 5, else its envelope's) on the topics matched by `precedenceTopics`; ROUTINE when it declares none, and on
    /// every other topic, which stays an MQTT Ordered Topic [MQTT-4.6.0-5, MQTT-4.6.0-6].
    static func of(
        topic: String, payload: ByteBuffer, properties: MQTTProperties, precedenceTopics: [String]
    ) -> Precedence {
        let property = properties.userProperty(Envelope.precedenceProperty)
        // The cheap tests first: most payloads are no JSON object. Then the topic, before the envelope is parsed:
        // a chat message in an envelope that declares IMMEDIATE stays ROUTINE, and parsing its payload to learn
        // that was a third of the hub's CPU per message.
        guard property != nil || payload.getInteger(at: payload.readerIndex, as: UInt8.self) == UInt8(ascii: "{"),
            precedenceTopics.contains(where: { TopicFilter.matches($0, topic: topic) })
        else { return .routine }
        if let property, let precedence = Precedence(name: property) { return precedence }
        return Envelope.header(of: payload)?.precedence ?? .routine
    }
}
