import NIOCore
import PeaceHubCore
import PeaceHubMQTT

/// The operations the crash probe commits; `StoreCrashTests` checks the state they leave.
///
/// Commit i queues message i (QoS 2) for `probe-a` and marks it in flight with packet id
/// `packetID(i)`, records that packet id as an inbound QoS 2 id (releasing the previous one),
/// queues the same message for `probe-b` and removes b's previous delivery (so b keeps only the
/// newest). Commits with i % 5 == 0 retain message i on its topic; those with i % 5 == 3 clear
/// the retained message again.
enum CrashStream {
    static let setup: [StoreOperation] = [
        .createSession(clientID: "probe-a", owner: .contingent("KAZ")),
        .createSession(clientID: "probe-b", owner: .operator("duty")),
        .subscribe(clientID: "probe-a", filter: "probe/#", qos: .exactlyOnce),
    ]

    static func packetID(_ index: UInt64) -> UInt16 { UInt16(index % 65535) + 1 }

    static func message(_ index: UInt64) -> BrokerMessage {
        BrokerMessage(
            topic: "probe/stream", payload: ByteBuffer(string: "message \(index)"), qos: .exactlyOnce,
            precedence: .flash, publisher: .contingent("KAZ"))
    }

    static func operations(_ index: UInt64) -> [StoreOperation] {
        var operations: [StoreOperation] = [
            .enqueue(clientID: "probe-a", sequence: index, messageID: index, message: message(index)),
            .markInflight(clientID: "probe-a", sequence: index, packetID: packetID(index), stage: .awaitingPubrec),
            .addInboundQoS2(clientID: "probe-a", packetID: packetID(index)),
            .enqueue(clientID: "probe-b", sequence: index, messageID: index, message: message(index)),
        ]
        if index > 1 {
            operations.append(.removeInboundQoS2(clientID: "probe-a", packetID: packetID(index - 1)))
            operations.append(.removeDelivery(clientID: "probe-b", sequence: index - 1))
        }
        if index % 5 == 0 {
            var retained = message(index)
            retained.retain = true
            operations.append(.setRetained(messageID: index, message: retained))
        } else if index % 5 == 3 {
            operations.append(
                .setRetained(
                    messageID: index,
                    message: BrokerMessage(topic: "probe/stream", payload: ByteBuffer(), qos: .atMostOnce)))
        }
        return operations
    }
}
