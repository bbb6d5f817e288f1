import Foundation
import Logging
import NIOCore
import PeaceHubCore
import PeaceHubMQTT
import PeaceHubPlugins
import PeaceHubRegistry
import Synchronization

/// What the mission modules reach through the host's `publish` and `registry_get`: the broker and the registry,
/// bound once they exist. Modules are loaded first, since the registry judges readiness through them.
final class ModuleServices: Sendable {
    private let registry = Mutex<Registry?>(nil)
    private let broker = Mutex<Broker?>(nil)

    func bind(_ registry: Registry) {
        self.registry.withLock { $0 = registry }
    }

    func bind(_ broker: Broker) {
        self.broker.withLock { $0 = broker }
    }

    /// The host's services: a module's message goes out as the hub's (QoS 1, at the precedence it gave), a lookup
    /// reads the registry; both are unavailable until bound.
    func hostServices(
        logger: Logger, configuration: @escaping @Sendable (String) -> JSONValue = { _ in [:] }
    ) -> HostServices {
        HostServices(
            logger: logger,
            publish: { [self] publication in
                guard let broker = broker.withLock({ $0 }) else { return .unavailable }
                let taken = broker.publishFromModule(
                    BrokerMessage(
                        topic: publication.topic, payload: ByteBuffer(bytes: publication.payload), qos: .atLeastOnce,
                        precedence: publication.precedence ?? .routine))
                return taken ? .accepted : .tooLarge
            },
            registry: { [self] kind, key in
                guard let registry = registry.withLock({ $0 }) else { return .unavailable }
                do {
                    return try registry.moduleRecord(kind: kind, key: key).map { .found($0) } ?? .notFound
                } catch let error as RegistryError where error.code == .invalidInput {
                    return .unknownKind
                } catch {
                    return .unavailable
                }
            },
            configuration: configuration)
    }
}
