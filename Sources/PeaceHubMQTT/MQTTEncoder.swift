import NIOCore
import PeaceHubCore

extension MQTTPacket {
    /// Writes the packet in the wire format of `version`. For 3.1.1, reason codes and properties are left out,
    /// except the few 3.1.1 can say: a CONNACK return code, a SUBACK failure (0x80).
    public func write(to buffer: inout ByteBuffer, version: MQTTVersion) {
        let v5 = version == .v5
        switch self {
        case .connect(let connect):
            var body = ByteBuffer()
            body.writeMQTTString("MQTT")
            body.writeInteger(connect.version.rawValue)
            var flags: UInt8 = connect.cleanStart ? 0x02 : 0
            if let will = connect.will {
                flags |= 0x04 | (will.qos.rawValue << 3) | (will.retain ? 0x20 : 0)
            }
            if connect.password != nil { flags |= 0x40 }
            if connect.username != nil { flags |= 0x80 }
            body.writeInteger(flags)
            body.writeInteger(connect.keepAlive, endianness: .big)
            if v5 { connect.properties.write(to: &body) }
            body.writeMQTTString(connect.clientID)
            if let will = connect.will {
                if v5 { will.properties.write(to: &body) }
                body.writeMQTTString(will.topic)
                body.writeMQTTBinary(will.payload)
            }
            if let username = connect.username { body.writeMQTTString(username) }
            if let password = connect.password { body.writeMQTTBinary(password) }
            buffer.writeFrame(type: .connect, flags: 0, body: body)
        case .connack(let ack):
            var body = ByteBuffer()
            body.writeInteger(UInt8(ack.sessionPresent ? 1 : 0))
            if v5 {
                body.writeInteger(ack.reasonCode.rawValue)
                ack.properties.write(to: &body)
            } else {
                body.writeInteger(ack.reasonCode.connectReturnCode)
            }
            buffer.writeFrame(type: .connack, flags: 0, body: body)
        case .publish(let publish):
            buffer.writePublish(
                topic: publish.topic, payload: publish.payload, qos: publish.qos, retain: publish.retain,
                duplicate: publish.duplicate, packetID: publish.packetID, properties: v5 ? publish.properties : nil)
        case .puback(let ack): buffer.writeAcknowledgement(.puback, flags: 0, ack, v5: v5)
        case .pubrec(let ack): buffer.writeAcknowledgement(.pubrec, flags: 0, ack, v5: v5)
        case .pubrel(let ack): buffer.writeAcknowledgement(.pubrel, flags: 0b0010, ack, v5: v5)
        case .pubcomp(let ack): buffer.writeAcknowledgement(.pubcomp, flags: 0, ack, v5: v5)
        case .subscribe(let subscribe):
            var body = ByteBuffer()
            body.writeInteger(subscribe.packetID, endianness: .big)
            if v5 { subscribe.properties.write(to: &body) }
            for (filter, options) in subscribe.subscriptions {
                body.writeMQTTString(filter)
                body.writeInteger(v5 ? options.byte : options.qos.rawValue)
            }
            buffer.writeFrame(type: .subscribe, flags: 0b0010, body: body)
        case .suback(let ack):
            var body = ByteBuffer()
            body.writeInteger(ack.packetID, endianness: .big)
            if v5 { ack.properties.write(to: &body) }
            for code in ack.reasonCodes {
                body.writeInteger(v5 || !code.isFailure ? code.rawValue : 0x80)
            }
            buffer.writeFrame(type: .suback, flags: 0, body: body)
        case .unsubscribe(let unsubscribe):
            var body = ByteBuffer()
            body.writeInteger(unsubscribe.packetID, endianness: .big)
            if v5 { unsubscribe.properties.write(to: &body) }
            for filter in unsubscribe.filters { body.writeMQTTString(filter) }
            buffer.writeFrame(type: .unsubscribe, flags: 0b0010, body: body)
        case .unsuback(let ack):
            var body = ByteBuffer()
            body.writeInteger(ack.packetID, endianness: .big)
            if v5 {
                ack.properties.write(to: &body)
                for code in ack.reasonCodes { body.writeInteger(code.rawValue) }
            }
            buffer.writeFrame(type: .unsuback, flags: 0, body: body)
        case .pingreq: buffer.writeFrame(type: .pingreq, flags: 0, body: ByteBuffer())
        case .pingresp: buffer.writeFrame(type: .pingresp, flags: 0, body: ByteBuffer())
        case .disconnect(let disconnect): buffer.writeReasonAndProperties(.disconnect, disconnect, v5: v5)
        case .auth(let auth): buffer.writeReasonAndProperties(.auth, auth, v5: v5)
        }
    }
}

extension MQTTPacket.Publish {
    /// The remaining length of this PUBLISH in `version`'s wire format.
    func remainingLength(version: MQTTVersion) -> Int {
        Self.remainingLength(
            topic: topic, payload: payload, packetID: packetID, properties: version == .v5 ? properties : nil)
    }

    /// The remaining length of a PUBLISH of these parts; `properties` nil for 3.1.1.
    static func remainingLength(topic: String, payload: ByteBuffer, packetID: UInt16?, properties: MQTTProperties?) -> Int {
        2 + topic.utf8.count + (packetID == nil ? 0 : 2) + payload.readableBytes
            + (properties?.encodedSizeWithLength ?? 0)
    }

    /// The whole packet's size on the wire, fixed header included (to compare with a Maximum Packet Size).
    public func encodedSize(version: MQTTVersion) -> Int {
        let remaining = remainingLength(version: version)
        return 1 + VariableByteInteger.size(of: remaining) + remaining
    }
}

/// Writes packets to the channel in one protocol version (the client side: `peacehub pub`/`sub`).
public struct MQTTEncoder: MessageToByteEncoder {
    public typealias OutboundIn = MQTTPacket

    public let version: MQTTVersion

    public init(version: MQTTVersion) {
        self.version = version
    }

    public func encode(data: MQTTPacket, out: inout ByteBuffer) {
        data.write(to: &out, version: version)
    }
}

extension ByteBuffer {
    mutating func writeMQTTString(_ string: String) {
        writeInteger(UInt16(string.utf8.count), endianness: .big)
        writeString(string)
    }

    mutating func writeMQTTBinary(_ bytes: [UInt8]) {
        writeInteger(UInt16(bytes.count), endianness: .big)
        writeBytes(bytes)
    }

    mutating func writeFrame(type: PacketType, flags: UInt8, body: ByteBuffer) {
        writeInteger(type.rawValue << 4 | flags)
        writeVariableByteInteger(body.readableBytes)
        writeImmutableBuffer(body)
    }

    /// Writes a PUBLISH from its parts, `properties` for 5.0 and nil for 3.1.1 (which has none): the connection
    /// writes most deliveries this way, straight from the queued message, with no packet built.
    ///
    /// Everything before the properties, and without properties (3.1.1, or a 5.0 property length of 0) the
    /// payload too, goes in one reservation: each `ByteBuffer` write checks uniqueness, capacity and exclusive
    /// access, and a 64-byte message took five.
    mutating func writePublish(
        topic: String, payload: ByteBuffer, qos: QoS, retain: Bool, duplicate: Bool, packetID: UInt16?,
        properties: MQTTProperties?
    ) {
        var flags = qos.rawValue << 1
        if retain { flags |= 0x01 }
        if duplicate { flags |= 0x08 }
        let remaining = MQTTPacket.Publish.remainingLength(
            topic: topic, payload: payload, packetID: packetID, properties: properties)
        let payloadFollows = properties?.isEmpty ?? true
        let emptyProperties = properties?.isEmpty ?? false
        withUTF8(of: topic) { topicBytes in
            let size =
                1 + VariableByteInteger.size(of: remaining) + 2 + topicBytes.count + (packetID == nil ? 0 : 2)
                + (emptyProperties ? 1 : 0) + (payloadFollows ? payload.readableBytes : 0)
            writeWithUnsafeMutableBytes(minimumWritableBytes: size) { out in
                var index = 0
                func put(_ byte: UInt8) {
                    out[index] = byte
                    index += 1
                }
                func put(_ bytes: UnsafeRawBufferPointer) {
                    guard let base = bytes.baseAddress else { return }
                    (out.baseAddress! + index).copyMemory(from: base, byteCount: bytes.count)
                    index += bytes.count
                }
                put(PacketType.publish.rawValue << 4 | flags)
                var value = remaining
                repeat {
                    put(UInt8(value % 128) | (value >= 128 ? 0x80 : 0))
                    value /= 128
                } while value > 0
                put(UInt8(topicBytes.count >> 8))
                put(UInt8(truncatingIfNeeded: topicBytes.count))
                put(UnsafeRawBufferPointer(topicBytes))
                if let packetID {
                    put(UInt8(packetID >> 8))
                    put(UInt8(truncatingIfNeeded: packetID))
                }
                if emptyProperties { put(0) }
                if payloadFollows { payload.withUnsafeReadableBytes { put($0) } }
                return index
            }
        }
        guard !payloadFollows, let properties else { return }
        properties.write(to: &self)
        writeImmutableBuffer(payload)
    }

    /// PUBACK, PUBREC, PUBREL, PUBCOMP: 5.0 leaves out a Success code without properties (section 3.4.2.1).
    mutating func writeAcknowledgement(_ type: PacketType, flags: UInt8, _ ack: MQTTPacket.Acknowledgement, v5: Bool) {
        writeInteger(type.rawValue << 4 | flags)
        guard v5, ack.reasonCode != .success || !ack.properties.isEmpty else {
            writeInteger(UInt8(2))
            writeInteger(ack.packetID, endianness: .big)
            return
        }
        let properties = ack.properties.isEmpty ? 0 : ack.properties.encodedSizeWithLength
        writeVariableByteInteger(3 + properties)
        writeInteger(ack.packetID, endianness: .big)
        writeInteger(ack.reasonCode.rawValue)
        if !ack.properties.isEmpty { ack.properties.write(to: &self) }
    }

    /// DISCONNECT and AUTH: empty in 3.1.1 and for a 5.0 Success without properties.
    mutating func writeReasonAndProperties(_ type: PacketType, _ packet: MQTTPacket.Disconnect, v5: Bool) {
        var body = ByteBuffer()
        if v5, packet.reasonCode != .success || !packet.properties.isEmpty {
            body.writeInteger(packet.reasonCode.rawValue)
            if !packet.properties.isEmpty { packet.properties.write(to: &body) }
        }
        writeFrame(type: type, flags: 0, body: body)
    }
}
