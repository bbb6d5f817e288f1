import NIOCore
import PeaceHubCore

/// One MQTT 5.0 property (section 2.2.2.2), with its value.
public enum MQTTProperty: Sendable, Hashable {
    case payloadFormatIndicator(UInt8)
    case messageExpiryInterval(UInt32)
    case contentType(String)
    case responseTopic(String)
    case correlationData([UInt8])
    case subscriptionIdentifier(Int)
    case sessionExpiryInterval(UInt32)
    case assignedClientIdentifier(String)
    case serverKeepAlive(UInt16)
    case authenticationMethod(String)
    case authenticationData([UInt8])
    case requestProblemInformation(UInt8)
    case willDelayInterval(UInt32)
    case requestResponseInformation(UInt8)
    case responseInformation(String)
    case serverReference(String)
    case reasonString(String)
    case receiveMaximum(UInt16)
    case topicAliasMaximum(UInt16)
    case topicAlias(UInt16)
    case maximumQoS(UInt8)
    case retainAvailable(UInt8)
    case userProperty(String, String)
    case maximumPacketSize(UInt32)
    case wildcardSubscriptionAvailable(UInt8)
    case subscriptionIdentifierAvailable(UInt8)
    case sharedSubscriptionAvailable(UInt8)

    /// The property's identifier on the wire.
    public var identifier: UInt8 {
        switch self {
        case .payloadFormatIndicator: 0x01
        case .messageExpiryInterval: 0x02
        case .contentType: 0x03
        case .responseTopic: 0x08
        case .correlationData: 0x09
        case .subscriptionIdentifier: 0x0B
        case .sessionExpiryInterval: 0x11
        case .assignedClientIdentifier: 0x12
        case .serverKeepAlive: 0x13
        case .authenticationMethod: 0x15
        case .authenticationData: 0x16
        case .requestProblemInformation: 0x17
        case .willDelayInterval: 0x18
        case .requestResponseInformation: 0x19
        case .responseInformation: 0x1A
        case .serverReference: 0x1C
        case .reasonString: 0x1F
        case .receiveMaximum: 0x21
        case .topicAliasMaximum: 0x22
        case .topicAlias: 0x23
        case .maximumQoS: 0x24
        case .retainAvailable: 0x25
        case .userProperty: 0x26
        case .maximumPacketSize: 0x27
        case .wildcardSubscriptionAvailable: 0x28
        case .subscriptionIdentifierAvailable: 0x29
        case .sharedSubscriptionAvailable: 0x2A
        }
    }
}

extension MQTTProperty {
    /// The longest Reason String the hub writes, in bytes.
    static let reasonLimit = 1024

    /// The hub's own Reason String, cut to `reasonLimit` bytes: it may quote a client's topic or a module's
    /// reason, either as long as an MQTT string may be, and prefix and quote together would not fit the 65,535
    /// bytes an MQTT string can hold. Control characters are escaped (`\0`, `\u{1B}`): U+0000 makes the packet
    /// malformed [MQTT-1.5.4-2] and the others should not be sent [MQTT-1.5.4-3], and a module's text may hold them.
    static func reason(_ raw: String) -> MQTTProperty {
        let text = loggableText(raw)
        guard text.utf8.count > reasonLimit else { return .reasonString(text) }
        let ellipsis = "\u{2026}"
        var kept = String.UnicodeScalarView()
        var size = ellipsis.utf8.count
        for scalar in text.unicodeScalars {
            size += UTF8.width(scalar)
            if size > reasonLimit { break }
            kept.append(scalar)
        }
        return .reasonString(String(kept) + ellipsis)
    }
}

/// The packets (and the will) that carry properties; which properties each may carry is in `MQTTProperties.allowed`.
public enum PropertyContext: Sendable, Hashable, CustomStringConvertible {
    case connect, connack, publish, will, acknowledgement, subscribe, suback, unsubscribe, unsuback, disconnect, auth

    public var description: String {
        switch self {
        case .connect: "CONNECT"
        case .connack: "CONNACK"
        case .publish: "PUBLISH"
        case .will: "will properties"
        case .acknowledgement: "PUBACK/PUBREC/PUBREL/PUBCOMP"
        case .subscribe: "SUBSCRIBE"
        case .suback: "SUBACK"
        case .unsubscribe: "UNSUBSCRIBE"
        case .unsuback: "UNSUBACK"
        case .disconnect: "DISCONNECT"
        case .auth: "AUTH"
        }
    }
}

/// The properties of one MQTT 5.0 packet, in the order they came (user properties keep their order and their
/// duplicates, as the standard requires). Empty for MQTT 3.1.1, and then free: no allocation.
public struct MQTTProperties: Sendable, Hashable, ExpressibleByArrayLiteral, Sequence {
    public var items: [MQTTProperty]

    public init(_ items: [MQTTProperty] = []) {
        self.items = items
    }

    public init(arrayLiteral elements: MQTTProperty...) {
        items = elements
    }

    public var isEmpty: Bool { items.isEmpty }

    public func makeIterator() -> IndexingIterator<[MQTTProperty]> { items.makeIterator() }

    /// Sets a property that may appear once: replaces one with the same identifier, or appends it.
    public mutating func set(_ property: MQTTProperty) {
        if let index = items.firstIndex(where: { $0.identifier == property.identifier }) {
            items[index] = property
        } else {
            items.append(property)
        }
    }

    /// Removes every property with `identifier`.
    public mutating func remove(_ identifier: UInt8) {
        items.removeAll { $0.identifier == identifier }
    }

    private func first<T>(_ extract: (MQTTProperty) -> T?) -> T? {
        for item in items { if let value = extract(item) { return value } }
        return nil
    }

    public var payloadFormatIndicator: UInt8? {
        first { if case .payloadFormatIndicator(let v) = $0 { v } else { nil } }
    }
    public var messageExpiryInterval: UInt32? {
        first { if case .messageExpiryInterval(let v) = $0 { v } else { nil } }
    }
    public var sessionExpiryInterval: UInt32? {
        first { if case .sessionExpiryInterval(let v) = $0 { v } else { nil } }
    }
    public var assignedClientIdentifier: String? {
        first { if case .assignedClientIdentifier(let v) = $0 { v } else { nil } }
    }
    public var serverKeepAlive: UInt16? { first { if case .serverKeepAlive(let v) = $0 { v } else { nil } } }
    public var authenticationMethod: String? {
        first { if case .authenticationMethod(let v) = $0 { v } else { nil } }
    }
    public var requestProblemInformation: UInt8? {
        first { if case .requestProblemInformation(let v) = $0 { v } else { nil } }
    }
    public var willDelayInterval: UInt32? { first { if case .willDelayInterval(let v) = $0 { v } else { nil } } }
    public var reasonString: String? { first { if case .reasonString(let v) = $0 { v } else { nil } } }
    public var receiveMaximum: UInt16? { first { if case .receiveMaximum(let v) = $0 { v } else { nil } } }
    public var topicAliasMaximum: UInt16? { first { if case .topicAliasMaximum(let v) = $0 { v } else { nil } } }
    public var topicAlias: UInt16? { first { if case .topicAlias(let v) = $0 { v } else { nil } } }
    public var maximumPacketSize: UInt32? { first { if case .maximumPacketSize(let v) = $0 { v } else { nil } } }

    /// Every Subscription Identifier, in order (a PUBLISH to a client may carry several).
    public var subscriptionIdentifiers: [Int] {
        items.compactMap { if case .subscriptionIdentifier(let v) = $0 { v } else { nil } }
    }

    /// Every User Property, in order, duplicates kept.
    public var userProperties: [(name: String, value: String)] {
        items.compactMap { if case .userProperty(let name, let value) = $0 { (name, value) } else { nil } }
    }

    /// The value of the first user property called `name`.
    public func userProperty(_ name: String) -> String? {
        first { if case .userProperty(name, let value) = $0 { value } else { nil } }
    }

    /// The properties an application message carries from its publisher to its subscribers [MQTT-3.3.2-17,
    /// MQTT-3.3.2-20, MQTT-3.3.2-4]: payload format, content type, response topic, correlation data and user
    /// properties, in order. Message expiry, topic alias and subscription identifiers are per delivery.
    public var forwardable: MQTTProperties {
        MQTTProperties(items.filter {
            switch $0 {
            case .payloadFormatIndicator, .contentType, .responseTopic, .correlationData, .userProperty: true
            default: false
            }
        })
    }

    /// Which property identifiers each packet may carry (table 2-4 of the standard).
    static func allowed(_ identifier: UInt8, in context: PropertyContext) -> Bool {
        switch identifier {
        case 0x01, 0x02, 0x03, 0x08, 0x09: context == .publish || context == .will
        case 0x0B: context == .publish || context == .subscribe
        case 0x11: context == .connect || context == .connack || context == .disconnect
        case 0x12, 0x13, 0x1A, 0x24, 0x25, 0x28, 0x29, 0x2A: context == .connack
        case 0x15, 0x16: context == .connect || context == .connack || context == .auth
        case 0x17, 0x19: context == .connect
        case 0x18: context == .will
        case 0x1C: context == .connack || context == .disconnect
        case 0x1F:
            [.connack, .acknowledgement, .suback, .unsuback, .disconnect, .auth].contains(context)
        case 0x21, 0x22, 0x27: context == .connect || context == .connack
        case 0x23: context == .publish
        case 0x26: true
        default: false
        }
    }
}

// MARK: Wire format

extension MQTTProperties {
    /// The bytes of the properties without their length prefix.
    var encodedLength: Int {
        var length = 0
        for item in items {
            length += 1  // every identifier defined so far fits one byte
            switch item {
            case .payloadFormatIndicator, .requestProblemInformation, .requestResponseInformation, .maximumQoS,
                .retainAvailable, .wildcardSubscriptionAvailable, .subscriptionIdentifierAvailable,
                .sharedSubscriptionAvailable:
                length += 1
            case .serverKeepAlive, .receiveMaximum, .topicAliasMaximum, .topicAlias:
                length += 2
            case .messageExpiryInterval, .sessionExpiryInterval, .willDelayInterval, .maximumPacketSize:
                length += 4
            case .contentType(let s), .responseTopic(let s), .assignedClientIdentifier(let s),
                .authenticationMethod(let s), .responseInformation(let s), .serverReference(let s),
                .reasonString(let s):
                length += 2 + s.utf8.count
            case .correlationData(let b), .authenticationData(let b):
                length += 2 + b.count
            case .subscriptionIdentifier(let v):
                length += VariableByteInteger.size(of: v)
            case .userProperty(let name, let value):
                length += 4 + name.utf8.count + value.utf8.count
            }
        }
        return length
    }

    /// The property length and the properties, as they go in a packet.
    var encodedSizeWithLength: Int {
        let length = encodedLength
        return VariableByteInteger.size(of: length) + length
    }

    func write(to buffer: inout ByteBuffer) {
        buffer.writeVariableByteInteger(encodedLength)
        for item in items {
            buffer.writeInteger(item.identifier)
            switch item {
            case .payloadFormatIndicator(let v), .requestProblemInformation(let v), .requestResponseInformation(let v),
                .maximumQoS(let v), .retainAvailable(let v), .wildcardSubscriptionAvailable(let v),
                .subscriptionIdentifierAvailable(let v), .sharedSubscriptionAvailable(let v):
                buffer.writeInteger(v)
            case .serverKeepAlive(let v), .receiveMaximum(let v), .topicAliasMaximum(let v), .topicAlias(let v):
                buffer.writeInteger(v, endianness: .big)
            case .messageExpiryInterval(let v), .sessionExpiryInterval(let v), .willDelayInterval(let v),
                .maximumPacketSize(let v):
                buffer.writeInteger(v, endianness: .big)
            case .contentType(let s), .responseTopic(let s), .assignedClientIdentifier(let s),
                .authenticationMethod(let s), .responseInformation(let s), .serverReference(let s),
                .reasonString(let s):
                buffer.writeMQTTString(s)
            case .correlationData(let b), .authenticationData(let b):
                buffer.writeMQTTBinary(b)
            case .subscriptionIdentifier(let v):
                buffer.writeVariableByteInteger(v)
            case .userProperty(let name, let value):
                buffer.writeMQTTString(name)
                buffer.writeMQTTString(value)
            }
        }
    }
}

extension PacketReader {
    /// Reads a property length and the properties after it, checking each against what `context` may carry.
    ///
    /// An unknown identifier, a property the packet may not carry, or a length past the end of the packet is a
    /// malformed packet; a second copy of a property that may appear once, or a value the standard forbids, is a
    /// protocol error (section 2.2.2.2).
    mutating func properties(_ context: PropertyContext) throws(MQTTError) -> MQTTProperties {
        let length = try variableByteInteger("property length")
        guard let body = buffer.readSlice(length: length) else {
            throw malformed("the property length \(length) runs past the end of the packet")
        }
        var reader = PacketReader(body, packet: packet)
        var items: [MQTTProperty] = []
        var seen: Set<UInt8> = []
        while !reader.isAtEnd {
            let identifier = try reader.variableByteInteger("property identifier")
            guard identifier <= 0x7f, Self.knownIdentifiers.contains(UInt8(identifier)) else {
                throw malformed("unknown property identifier 0x\(String(identifier, radix: 16))")
            }
            let id = UInt8(identifier)
            guard MQTTProperties.allowed(id, in: context) else {
                throw malformed("property 0x\(String(id, radix: 16)) is not allowed in \(context)")
            }
            // User properties may repeat, and a PUBLISH to a client may carry several subscription identifiers.
            if id != 0x26, !(id == 0x0B && context == .publish), !seen.insert(id).inserted {
                throw MQTTError(.protocolViolation, "\(packet): property 0x\(String(id, radix: 16)) appears twice")
            }
            items.append(try reader.property(id))
        }
        return MQTTProperties(items)
    }

    private static let knownIdentifiers: Set<UInt8> = [
        0x01, 0x02, 0x03, 0x08, 0x09, 0x0B, 0x11, 0x12, 0x13, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x1C, 0x1F, 0x21,
        0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2A,
    ]

    private mutating func property(_ id: UInt8) throws(MQTTError) -> MQTTProperty {
        /// A byte that must be 0 or 1.
        func flag(_ value: UInt8, _ name: String) throws(MQTTError) -> UInt8 {
            guard value <= 1 else { throw MQTTError(.protocolViolation, "\(packet): \(name) is \(value), not 0 or 1") }
            return value
        }
        switch id {
        case 0x01: return .payloadFormatIndicator(try flag(byte("payload format indicator"), "Payload Format Indicator"))
        case 0x02: return .messageExpiryInterval(try uint32("message expiry interval"))
        case 0x03: return .contentType(try string("content type"))
        case 0x08:
            let topic = try string("response topic")
            try TopicName.validate(topic, field: "response topic")
            return .responseTopic(topic)
        case 0x09: return .correlationData(try binary("correlation data"))
        case 0x0B:
            let value = try variableByteInteger("subscription identifier")
            guard value != 0 else {
                throw MQTTError(.protocolViolation, "\(packet): subscription identifier 0 [MQTT-3.8.2-1]")
            }
            return .subscriptionIdentifier(value)
        case 0x11: return .sessionExpiryInterval(try uint32("session expiry interval"))
        case 0x12: return .assignedClientIdentifier(try string("assigned client identifier"))
        case 0x13: return .serverKeepAlive(try uint16("server keep alive"))
        case 0x15: return .authenticationMethod(try string("authentication method"))
        case 0x16: return .authenticationData(try binary("authentication data"))
        case 0x17:
            return .requestProblemInformation(try flag(byte("request problem information"), "Request Problem Information"))
        case 0x18: return .willDelayInterval(try uint32("will delay interval"))
        case 0x19:
            return .requestResponseInformation(
                try flag(byte("request response information"), "Request Response Information"))
        case 0x1A: return .responseInformation(try string("response information"))
        case 0x1C: return .serverReference(try string("server reference"))
        case 0x1F: return .reasonString(try string("reason string"))
        case 0x21:
            let value = try uint16("receive maximum")
            guard value != 0 else { throw MQTTError(.protocolViolation, "\(packet): Receive Maximum 0") }
            return .receiveMaximum(value)
        case 0x22: return .topicAliasMaximum(try uint16("topic alias maximum"))
        case 0x23: return .topicAlias(try uint16("topic alias"))
        case 0x24: return .maximumQoS(try flag(byte("maximum QoS"), "Maximum QoS"))
        case 0x25: return .retainAvailable(try flag(byte("retain available"), "Retain Available"))
        case 0x26: return .userProperty(try string("user property name"), try string("user property value"))
        case 0x27:
            let value = try uint32("maximum packet size")
            guard value != 0 else { throw MQTTError(.protocolViolation, "\(packet): Maximum Packet Size 0") }
            return .maximumPacketSize(value)
        case 0x28:
            return .wildcardSubscriptionAvailable(
                try flag(byte("wildcard subscription available"), "Wildcard Subscription Available"))
        case 0x29:
            return .subscriptionIdentifierAvailable(
                try flag(byte("subscription identifier available"), "Subscription Identifier Available"))
        default:
            return .sharedSubscriptionAvailable(
                try flag(byte("shared subscription available"), "Shared Subscription Available"))
        }
    }
}

/// The variable byte integer of section 1.5.5: 7 bits a byte, at most four bytes (0...268,435,455).
enum VariableByteInteger {
    static let maximum = 268_435_455

    static func size(of value: Int) -> Int {
        switch value {
        case ..<128: 1
        case ..<16_384: 2
        case ..<2_097_152: 3
        default: 4
        }
    }
}

extension ByteBuffer {
    mutating func writeVariableByteInteger(_ value: Int) {
        var value = value
        repeat {
            var byte = UInt8(value % 128)
            value /= 128
            if value > 0 { byte |= 0x80 }
            writeInteger(byte)
        } while value > 0
    }
}
