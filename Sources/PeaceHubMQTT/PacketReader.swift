import Foundation
import NIOCore
import PeaceHubCore

/// Reads the fields of one packet body; every read fails with a malformed-packet error instead of
/// trapping when the body is short.
struct PacketReader {
    var buffer: ByteBuffer
    let packet: String

    init(_ buffer: ByteBuffer, packet: String) {
        self.buffer = buffer
        self.packet = packet
    }

    var isAtEnd: Bool { buffer.readableBytes == 0 }

    func malformed(_ reason: String) -> MQTTError {
        MQTTError(.malformedPacket, "\(packet): \(reason)")
    }

    mutating func byte(_ field: String) throws(MQTTError) -> UInt8 {
        guard let value = buffer.readInteger(as: UInt8.self) else { throw malformed("truncated before \(field)") }
        return value
    }

    mutating func uint16(_ field: String) throws(MQTTError) -> UInt16 {
        guard let value = buffer.readInteger(endianness: .big, as: UInt16.self) else {
            throw malformed("truncated before \(field)")
        }
        return value
    }

    mutating func uint32(_ field: String) throws(MQTTError) -> UInt32 {
        guard let value = buffer.readInteger(endianness: .big, as: UInt32.self) else {
            throw malformed("truncated before \(field)")
        }
        return value
    }

    /// A variable byte integer: at most four bytes, and no more than its value needs [MQTT-1.5.5-1].
    mutating func variableByteInteger(_ field: String) throws(MQTTError) -> Int {
        var value = 0
        var multiplier = 1
        for position in 0..<4 {
            let byte = try self.byte(field)
            value += Int(byte & 0x7f) * multiplier
            if byte & 0x80 == 0 {
                guard byte != 0 || position == 0 else {
                    throw malformed("\(field) is not minimally encoded [MQTT-1.5.5-1]")
                }
                return value
            }
            multiplier *= 128
        }
        throw malformed("\(field) takes more than four bytes [MQTT-1.5.5-1]")
    }

    /// A length-prefixed binary field.
    mutating func binary(_ field: String) throws(MQTTError) -> [UInt8] {
        let length = Int(try uint16(field))
        guard let bytes = buffer.readBytes(length: length) else {
            throw malformed("\(field) says \(length) bytes, \(buffer.readableBytes) remain")
        }
        return bytes
    }

    /// A length-prefixed UTF-8 string: well-formed, and without U+0000 [MQTT-1.5.3-1, MQTT-1.5.3-2].
    mutating func string(_ field: String) throws(MQTTError) -> String {
        let length = Int(try uint16(field))
        guard let view = buffer.readSlice(length: length) else {
            throw malformed("\(field) says \(length) bytes, \(buffer.readableBytes) remain")
        }
        // One pass over the bytes: topics are nearly always ASCII, which is valid UTF-8 as it stands, so only
        // other text goes through validation.
        let (text, hasZero) = view.withUnsafeReadableBytes { bytes -> (String?, Bool) in
            var high: UInt8 = 0
            var hasZero = false
            for byte in bytes {
                high |= byte
                hasZero = hasZero || byte == 0
            }
            let text = high < 0x80 ? String(decoding: bytes, as: UTF8.self) : String(validating: bytes, as: UTF8.self)
            return (text, hasZero)
        }
        guard let text else { throw malformed("\(field) is not valid UTF-8 [MQTT-1.5.3-1]") }
        guard !hasZero else { throw malformed("\(field) contains U+0000 [MQTT-1.5.3-2]") }
        return text
    }

    /// Skips a string field whose bytes are those of `known` (not empty), without reading it into a new string;
    /// false, reading nothing, when they differ or the field is cut short.
    mutating func skipString(equalTo known: String) -> Bool {
        guard !known.isEmpty, let length = buffer.getInteger(at: buffer.readerIndex, as: UInt16.self),
            Int(length) == known.utf8.count, buffer.readableBytes >= 2 + Int(length)
        else { return false }
        let equal = withUTF8(of: known) { knownBytes in
            buffer.withUnsafeReadableBytes { bytes in
                memcmp(bytes.baseAddress! + 2, knownBytes.baseAddress!, knownBytes.count) == 0
            }
        }
        if equal { buffer.moveReaderIndex(forwardBy: 2 + Int(length)) }
        return equal
    }

    /// A non-zero packet identifier [MQTT-2.3.1-1].
    mutating func packetID() throws(MQTTError) -> UInt16 {
        let id = try uint16("packet identifier")
        guard id != 0 else { throw MQTTError(.protocolViolation, "\(packet): packet identifier 0 [MQTT-2.3.1-1]") }
        return id
    }

    /// Everything left, as a slice of the original buffer (no copy).
    mutating func rest() -> ByteBuffer {
        buffer.readSlice(length: buffer.readableBytes)!
    }

    func expectEnd() throws(MQTTError) {
        guard isAtEnd else { throw malformed("\(buffer.readableBytes) unexpected bytes at the end") }
    }
}
