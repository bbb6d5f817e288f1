import NIOCore

extension MQTTPacket {
    /// Writes the packet in MQTT 3.1.1 wire format.
    public func write(to buffer: inout ByteBuffer) {
        switch self {
        case .connect(let connect):
            var body = ByteBuffer()
            body.writeMQTTString("MQTT")
            body.writeInteger(connect.version.rawValue)
            var flags: UInt8 = connect.cleanSession ? 0x02 : 0
            if let will = connect.will {
                flags |= 0x04 | (will.qos.rawValue << 3) | (will.retain ? 0x20 : 0)
            }
            if connect.password != nil { flags |= 0x40 }
            if connect.username != nil { flags |= 0x80 }
            body.writeInteger(flags)
            body.writeInteger(connect.keepAlive, endianness: .big)
            body.writeMQTTString(connect.clientID)
            if let will = connect.will {
                body.writeMQTTString(will.topic)
                body.writeMQTTBinary(will.payload)
            }
            if let username = connect.username { body.writeMQTTString(username) }
            if let password = connect.password { body.writeMQTTBinary(password) }
            buffer.writeFrame(type: .connect, flags: 0, body: body)
        case .connack(let ack):
            buffer.writeFrame(type: .connack, flags: 0, body: ByteBuffer(bytes: [ack.sessionPresent ? 1 : 0, ack.returnCode.rawValue]))
        case .publish(let publish):
            var flags = publish.qos.rawValue << 1
            if publish.retain { flags |= 0x01 }
            if publish.duplicate { flags |= 0x08 }
            let topicLength = publish.topic.utf8.count
            let remaining = 2 + topicLength + (publish.packetID == nil ? 0 : 2) + publish.payload.readableBytes
            buffer.writeInteger(PacketType.publish.rawValue << 4 | flags)
            buffer.writeRemainingLength(remaining)
            buffer.writeMQTTString(publish.topic)
            if let id = publish.packetID { buffer.writeInteger(id, endianness: .big) }
            buffer.writeImmutableBuffer(publish.payload)
        case .puback(let id): buffer.writeAck(.puback, flags: 0, id: id)
        case .pubrec(let id): buffer.writeAck(.pubrec, flags: 0, id: id)
        case .pubrel(let id): buffer.writeAck(.pubrel, flags: 0b0010, id: id)
        case .pubcomp(let id): buffer.writeAck(.pubcomp, flags: 0, id: id)
        case .subscribe(let subscribe):
            var body = ByteBuffer()
            body.writeInteger(subscribe.packetID, endianness: .big)
            for (filter, qos) in subscribe.subscriptions {
                body.writeMQTTString(filter)
                body.writeInteger(qos.rawValue)
            }
            buffer.writeFrame(type: .subscribe, flags: 0b0010, body: body)
        case .suback(let ack):
            var body = ByteBuffer()
            body.writeInteger(ack.packetID, endianness: .big)
            for code in ack.returnCodes {
                switch code {
                case .granted(let qos): body.writeInteger(qos.rawValue)
                case .failure: body.writeInteger(UInt8(0x80))
                }
            }
            buffer.writeFrame(type: .suback, flags: 0, body: body)
        case .unsubscribe(let unsubscribe):
            var body = ByteBuffer()
            body.writeInteger(unsubscribe.packetID, endianness: .big)
            for filter in unsubscribe.filters { body.writeMQTTString(filter) }
            buffer.writeFrame(type: .unsubscribe, flags: 0b0010, body: body)
        case .unsuback(let id): buffer.writeAck(.unsuback, flags: 0, id: id)
        case .pingreq: buffer.writeFrame(type: .pingreq, flags: 0, body: ByteBuffer())
        case .pingresp: buffer.writeFrame(type: .pingresp, flags: 0, body: ByteBuffer())
        case .disconnect: buffer.writeFrame(type: .disconnect, flags: 0, body: ByteBuffer())
        }
    }
}

/// Writes packets to the channel.
public struct MQTTEncoder: MessageToByteEncoder {
    public typealias OutboundIn = MQTTPacket

    public init() {}

    public func encode(data: MQTTPacket, out: inout ByteBuffer) {
        data.write(to: &out)
    }
}

extension ByteBuffer {
    mutating func writeRemainingLength(_ length: Int) {
        var value = length
        repeat {
            var byte = UInt8(value % 128)
            value /= 128
            if value > 0 { byte |= 0x80 }
            writeInteger(byte)
        } while value > 0
    }

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
        writeRemainingLength(body.readableBytes)
        writeImmutableBuffer(body)
    }

    mutating func writeAck(_ type: PacketType, flags: UInt8, id: UInt16) {
        writeInteger(type.rawValue << 4 | flags)
        writeInteger(UInt8(2))
        writeInteger(id, endianness: .big)
    }
}
