import Foundation
import NIOCore
import PeaceHubCore

/// The MQTT 3.1.1 JSON envelope of `docs/protocol.md`:
/// `{"precedence": "FLASH", "securityLabel": "UN RESTRICTED", "body": {...}}`.
public struct Envelope: Sendable, Decodable {
    public var precedence: Precedence?
    public var securityLabel: String?

    /// Reads the envelope's header from a payload; `nil` when the payload is not an envelope.
    public static func header(of payload: ByteBuffer) -> Envelope? {
        // Most payloads are not envelopes: look for the key before parsing anything.
        guard payload.readableBytes >= 2, payload.getInteger(at: payload.readerIndex, as: UInt8.self) == UInt8(ascii: "{"),
            payload.readableBytesView.firstRange(of: Array(#""precedence""#.utf8)) != nil
                || payload.readableBytesView.firstRange(of: Array(#""securityLabel""#.utf8)) != nil
        else { return nil }
        return try? JSONDecoder().decode(Envelope.self, from: Data(payload.readableBytesView))
    }
}

extension Precedence {
    /// The precedence a payload's envelope declares; ROUTINE when it declares none.
    static func of(payload: ByteBuffer) -> Precedence {
        Envelope.header(of: payload)?.precedence ?? .routine
    }
}
