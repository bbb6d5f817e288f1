import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import PeaceHubCore
import PeaceHubMQTT
import PeaceHubTLS
import Synchronization

/// What `peacehub pub` and `peacehub sub` share: where the hub is and whose certificate to use.
struct ClientOptions: ParsableArguments {
    @Option(name: .customLong("as"), help: "Who connects: a contingent code (KAZ) or operator:<name>; picks the certificate.")
    var principal: String?

    @Option(
        name: .customLong("cert"),
        help: ArgumentHelp(
            "The client certificate (PEM), instead of --as: e.g. one issued for a --csr.", valueName: "file"))
    var certificateFile: String?

    @Option(name: .customLong("key"), help: ArgumentHelp("The private key of --cert (PEM).", valueName: "file"))
    var keyFile: String?

    @Option(help: ArgumentHelp("The hub CA's certificate (default: ca.pem in the PKI directory).", valueName: "file"))
    var cafile: String?

    @Option(help: "The hub's address (an IPv6 address bare or in brackets, as in a URL).")
    var host = "127.0.0.1"

    @Option(help: "The hub's port.")
    var port = 8883

    @Option(help: "The name the hub's certificate must carry.")
    var serverName = "localhost"

    @Option(help: "The PKI directory with ca.pem and the client certificates (default: the hub's).")
    var pki: String?

    @Option(help: "The MQTT client id (default: a new one).")
    var clientID: String?

    @Flag(help: "Keep the session: MQTT 5 Clean Start 0 with a session that never expires; 3.1.1 clean session 0.")
    var persistent = false

    @Option(name: [.customShort("V"), .customLong("mqtt-version")], help: "The MQTT version: 5 or 3.1.1.")
    var mqttVersion = "5"

    @Option(
        name: [.customShort("k"), .customLong("keepalive")],
        help: "The MQTT keep-alive in seconds: a PINGREQ goes every three quarters of it; 0: none.")
    var keepAlive: UInt16 = 60

    /// The protocol level `--mqtt-version` names.
    var version: MQTTVersion {
        get throws {
            switch mqttVersion.lowercased() {
            case "5", "5.0", "mqttv5": return .v5
            case "3.1.1", "311", "mqttv311": return .v3_1_1
            default: throw CLIError("--mqtt-version must be 5 or 3.1.1, not '\(mqttVersion)'")
            }
        }
    }

    func validate() throws {
        guard (principal == nil) != (certificateFile == nil && keyFile == nil) else {
            throw ValidationError("give --as, or --cert and --key")
        }
        if principal == nil && (certificateFile == nil || keyFile == nil) {
            throw ValidationError("--cert and --key go together")
        }
    }

    /// The CA, certificate and key files: `--cert` and `--key`, or those of `--as` under the PKI directory.
    func credentials() throws -> (ca: String, certificate: String, key: String) {
        let folder = pki.map { URL(fileURLWithPath: $0) } ?? HubPaths.fromEnvironment.pkiDirectory
        let ca = cafile ?? folder.appendingPathComponent("ca.pem").path
        let files: (ca: String, certificate: String, key: String)
        if let certificateFile, let keyFile {
            files = (ca, certificateFile, keyFile)
        } else {
            let principal = principal ?? ""
            let relative =
                principal.hasPrefix("operator:")
                ? "operators/\(principal.dropFirst("operator:".count))" : "contingents/\(principal)"
            files = (
                ca, folder.appendingPathComponent("\(relative).pem").path,
                folder.appendingPathComponent("\(relative).key").path
            )
        }
        for file in [files.ca, files.certificate, files.key] where !FileManager.default.isReadableFile(atPath: file) {
            // A file named on the command line is just missing; one found from --as may not have been issued.
            let named = [cafile, certificateFile, keyFile].contains(file)
            throw CLIError("cannot read \(file)" + (named ? "" : ": issue it with `peacehub pki issue`, or pass --pki"))
        }
        return files
    }

    /// Connects over mutual TLS, sends CONNECT and waits for CONNACK.
    /// The system's reason a connection failed ("Connection refused"), not SwiftNIO's description of its attempts.
    static func connectionFailure(_ error: any Error) -> String {
        var errors: [any Error] = [error]
        if let attempts = error as? NIOConnectionError {
            errors = attempts.connectionErrors.map(\.error)
            errors += [attempts.dnsAError, attempts.dnsAAAAError].compactMap { $0 }
        }
        for error in errors {
            if let io = error as? IOError { return String(cString: strerror(io.errnoCode)) }
            if error is SocketAddressError || error is SocketAddressError.UnknownHost { return "unknown host" }
        }
        return errors.isEmpty ? "unknown host" : "\(error)"
    }

    func connect() async throws -> MQTTSession {
        let version = try self.version
        let (ca, certificate, key) = try credentials()
        let context = try TLSContext(configuration: .client(trustedCAFile: ca, certificateFile: certificate, privateKeyFile: key))
        let handler = MQTTClientHandler(keepAlive: keepAlive)
        let serverName = self.serverName
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        try TLSHandler(context: context, serverHostname: serverName),
                        ByteToMessageHandler(MQTTDecoder(maximumPacketSize: 64 << 20, role: .client, version: version)),
                        MessageToByteHandler(MQTTEncoder(version: version)), handler,
                    ])
                }
            }
        // `[::1]`, as a URL writes it, is the address within (it was an unknown host).
        let address = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: address, port: port).get()
        } catch {
            throw CLIError("cannot connect to \(authority(host: address, port: port)): \(Self.connectionFailure(error))")
        }
        let session = MQTTSession(channel: channel, handler: handler)
        let clientID = self.clientID ?? "peacehub-cli-\(UUID().uuidString.prefix(8).lowercased())"
        let properties: MQTTProperties = persistent && version == .v5 ? [.sessionExpiryInterval(.max)] : []
        try await session.send(
            .connect(
                .init(
                    version: version, clientID: clientID, cleanStart: !persistent, keepAlive: keepAlive,
                    properties: properties)))
        guard case .connack(let ack) = try await session.next() else { throw CLIError("the hub did not answer CONNECT") }
        guard ack.reasonCode == .success else {
            throw CLIError("the hub refused the connection: CONNACK \(ack.reasonCode)\(reason(ack.properties))")
        }
        return session
    }
}

/// ": <reason string>" when the hub gave one (MQTT 5).
func reason(_ properties: MQTTProperties) -> String {
    properties.reasonString.map { ": \($0)" } ?? ""
}

/// A connected client: send packets, await the server's.
final class MQTTSession: Sendable {
    let channel: any Channel
    let handler: MQTTClientHandler
    private let iterator: Iterator

    /// The stream's iterator, used by one task at a time.
    private final class Iterator: @unchecked Sendable {
        var base: AsyncStream<MQTTPacket>.Iterator
        init(_ base: AsyncStream<MQTTPacket>.Iterator) { self.base = base }
    }

    init(channel: any Channel, handler: MQTTClientHandler) {
        self.channel = channel
        self.handler = handler
        iterator = Iterator(handler.packets.makeAsyncIterator())
    }

    func send(_ packet: MQTTPacket) async throws {
        try await channel.writeAndFlush(packet)
    }

    /// Acknowledges a message the command has taken (printed). One it never takes stays with the session: `pub`
    /// takes none, and `sub -C` none after its count; the hub sends them again at the session's next connection.
    /// A connection closed meanwhile leaves the message unacknowledged, to come again.
    func acknowledge(_ publish: MQTTPacket.Publish) async {
        if let acknowledgement = MQTTClientHandler.acknowledgement(of: publish) { try? await send(acknowledgement) }
    }

    /// The next packet from the server; throws when the connection closed.
    func next() async throws -> MQTTPacket {
        guard let packet = await iterator.base.next() else { throw CLIError("the hub closed the connection") }
        return packet
    }

    func disconnect() async {
        try? await send(.disconnect(.init()))
        try? await channel.close()
    }
}

/// `peacehub pub`: publishes one message.
struct PubCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pub", abstract: "Publish one message to the hub (MQTT 5 or 3.1.1 over mutual TLS).",
        discussion: """
            With --precedence, an MQTT 5 message carries the precedence and the security label as the user \
            properties `precedence` and `security-label`; a 3.1.1 message is wrapped in the JSON envelope \
            {"precedence", "securityLabel", "body"}. A refused message (MQTT 5: a reason code of 0x80 or more in \
            PUBACK or PUBREC) is reported with its reason and exit status 1.
            """)

    @OptionGroup var client: ClientOptions

    @Option(name: .shortAndLong, help: "The topic.")
    var topic: String

    @Option(name: .shortAndLong, help: "The message. With --precedence and 3.1.1 it becomes the envelope's body.")
    var message: String

    @Option(name: .shortAndLong, help: "Quality of service: 0, 1 or 2.")
    var qos = 1

    @Flag(name: .shortAndLong, help: "Retain the message.")
    var retain = false

    @Option(help: "The message's precedence: ROUTINE, PRIORITY, IMMEDIATE or FLASH.")
    var precedence: String?

    @Option(help: "The message's security label (with --precedence).")
    var label = "UN RESTRICTED"

    @Option(name: .customLong("user-property"), help: "An MQTT 5 user property NAME=VALUE; repeat for more.")
    var userProperties: [String] = []

    func run() async throws {
        guard let qos = QoS(rawValue: UInt8(clamping: self.qos)), self.qos >= 0 else { throw CLIError("-q must be 0, 1 or 2") }
        // Checked here, as mosquitto_pub does: the hub would only close the connection.
        do throws(MQTTError) { try TopicName.validate(topic, field: "topic") } catch {
            throw CLIError("-t: \(error.reason)")
        }
        let version = try client.version
        var payload = Data(message.utf8)
        var properties: MQTTProperties = []
        for pair in userProperties {
            guard let equals = pair.firstIndex(of: "="), version == .v5 else {
                throw CLIError("--user-property takes NAME=VALUE and MQTT 5, not '\(pair)'")
            }
            properties.items.append(.userProperty(String(pair[..<equals]), String(pair[pair.index(after: equals)...])))
        }
        if let precedence {
            guard Precedence(name: precedence) != nil else {
                throw CLIError("--precedence must be ROUTINE, PRIORITY, IMMEDIATE or FLASH")
            }
            if version == .v5 {
                properties.items.append(.userProperty(Envelope.precedenceProperty, precedence))
                properties.items.append(.userProperty(Envelope.securityLabelProperty, label))
            } else {
                let body = (try? JSONValue(parsing: payload)) ?? .string(message)
                payload = JSONValue.object(["precedence": .string(precedence), "securityLabel": .string(label), "body": body])
                    .jsonData
            }
        }
        let session = try await client.connect()
        let id: UInt16? = qos == .atMostOnce ? nil : 1
        try await session.send(
            .publish(
                .init(
                    topic: topic, payload: ByteBuffer(bytes: payload), qos: qos, retain: retain, packetID: id,
                    properties: properties)))
        // Wait for the end of the flow: PUBACK, or PUBCOMP after PUBREC; a refusal ends it early (MQTT 5).
        while qos != .atMostOnce {
            switch try await session.next() {
            case .puback(let ack) where ack.packetID == 1, .pubrec(let ack) where ack.reasonCode.isFailure:
                await session.disconnect()
                guard !ack.reasonCode.isFailure else {
                    throw CLIError("the hub refused the message: \(ack.reasonCode)\(reason(ack.properties))")
                }
                return
            case .pubcomp(let ack) where ack.packetID == 1:
                await session.disconnect()
                return
            default:
                continue
            }
        }
        await session.disconnect()
    }
}

/// Raised by SIGINT, SIGTERM or the end of `-W` while `sub` waits.
private final class StopRequest: Sendable {
    let raised = Atomic(false)
}

/// `peacehub sub`: prints messages from the hub.
struct SubCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sub", abstract: "Subscribe and print messages from the hub (MQTT 5 or 3.1.1 over mutual TLS).")

    @OptionGroup var client: ClientOptions

    @Option(name: .shortAndLong, help: "A topic filter; repeat for more.")
    var topic: [String]

    @Option(name: .shortAndLong, help: "Quality of service asked for: 0, 1 or 2.")
    var qos = 1

    @Option(name: .customShort("C"), help: "Stop after this many messages.")
    var count: Int?

    @Option(name: .customShort("W"), help: "Stop after this many seconds.")
    var seconds: Int?

    @Flag(name: .shortAndLong, help: "Print the topic before each message.")
    var verbose = false

    func run() async throws {
        guard let qos = QoS(rawValue: UInt8(clamping: self.qos)), self.qos >= 0 else { throw CLIError("-q must be 0, 1 or 2") }
        if let invalid = topic.first(where: { !TopicFilter.isValid($0) }) {
            throw CLIError("-t: '\(invalid)' is no MQTT topic filter (not empty; + and # only as whole levels, # last)")
        }
        let session = try await client.connect()
        try await session.send(.subscribe(.init(packetID: 1, subscriptions: topic.map { ($0, qos) })))
        // -W, SIGINT and SIGTERM end the wait with a DISCONNECT and exit 0, as mosquitto_sub does; a connection
        // closed otherwise is the hub's doing, and said so (exit 1). They end the stream of packets, not the
        // connection: what it held already is printed and acknowledged before the DISCONNECT, and nothing after
        // it (closing the connection at once printed up to a window of messages it could no longer acknowledge,
        // which the session's next connection printed again).
        let stopped = StopRequest()
        @Sendable func stop() {
            stopped.raised.store(true, ordering: .relaxed)
            session.handler.endPackets()
        }
        if let seconds {
            session.channel.eventLoop.scheduleTask(in: .seconds(Int64(seconds))) { stop() }
        }
        let stopSignals = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number)
            source.setEventHandler { stop() }
            source.resume()
            return source
        }
        defer { stopSignals.forEach { $0.cancel() } }
        var received = 0
        while count.map({ received < $0 }) ?? true {
            let packet: MQTTPacket
            do {
                packet = try await session.next()
            } catch {
                if stopped.raised.load(ordering: .relaxed) { break }
                StandardStreams.error(Data("the hub closed the connection\n".utf8))
                throw ExitCode.failure
            }
            switch packet {
            case .disconnect(let disconnect):
                let line = "the hub disconnected: \(disconnect.reasonCode)\(reason(disconnect.properties))\n"
                StandardStreams.error(Data(line.utf8))
                throw ExitCode.failure
            case .suback(let ack):
                for (filter, code) in zip(topic, ack.reasonCodes) where code.isFailure {
                    // MQTT 3.1.1 has one failure code, which it calls Failure [MQTT-3.9.3].
                    let name = try client.version == .v3_1_1 ? "0x80 Failure" : "\(code)"
                    StandardStreams.error(Data("subscription to \(filter) refused: \(name)\n".utf8))
                }
                if ack.reasonCodes.allSatisfy(\.isFailure) { throw ExitCode.failure }
            case .publish(let publish):
                // The payload's bytes as they came, as mosquitto_sub prints them: they need not be UTF-8.
                var line = verbose ? Data("\(publish.topic) ".utf8) : Data()
                line += publish.payload.readableBytesView
                line.append(UInt8(ascii: "\n"))
                // Not printed, not acknowledged: a message the reader never got stays the hub's to send again.
                guard StandardStreams.output(line) else {
                    printError("cannot write to standard output: \(String(cString: strerror(errno)))")
                    throw ExitCode.failure
                }
                await session.acknowledge(publish)
                received += 1
            default:
                break
            }
        }
        await session.disconnect()
    }
}
