import Foundation
import Logging
import PeaceHubCore
import Synchronization

/// Loads mission modules and keeps them for the life of the process (one per mission).
///
/// A refused module never stops the others from loading. Modules are never unloaded: updating
/// one means restarting the hub (see docs/abi.md, "Unloading").
public final class PluginHost: ReadinessEvaluating, Sendable {
    public let services: HostServices
    /// How long a readiness question or a command waits for its module: a module that hangs costs its own answers,
    /// never the threads of the admin API or a registry transaction waiting for its verdict.
    public let callBudget: Duration
    private let loaded = Mutex<[ModuleInstance]>([])

    public init(services: HostServices = HostServices(), callBudget: Duration = .seconds(10)) {
        self.services = services
        self.callBudget = callBudget
    }

    /// The loaded modules, in load order.
    public var modules: [ModuleInstance] { loaded.withLock { $0 } }

    /// The module serving `mission` (its code, any case), if one is loaded.
    public func module(forMission mission: String) -> ModuleInstance? {
        let code = mission.uppercased()
        return loaded.withLock { $0.first { $0.mission == code } }
    }

    /// Loads every `*.plugin.json` in `directory` (sorted by name) and returns the refusals.
    @discardableResult
    public func loadDirectory(_ directory: URL) -> [PluginLoadError] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            let refusal = PluginLoadError(
                .manifestInvalid, file: directory.path, reason: "cannot list the plugins directory")
            services.logger.error("\(refusal)")
            return [refusal]
        }
        var refusals: [PluginLoadError] = []
        for name in names.sorted() where name.hasSuffix(PluginManifest.fileSuffix) {
            do {
                try load(manifest: directory.appendingPathComponent(name))
            } catch {
                refusals.append(error)
            }
        }
        return refusals
    }

    /// Loads one module from its manifest, creates its instance and keeps it.
    @discardableResult
    public func load(manifest url: URL) throws(PluginLoadError) -> ModuleInstance {
        do throws(PluginLoadError) {
            let opened = try PluginLoader.open(manifest: url)
            if let clash = modules.first(where: { $0.id == opened.id || $0.mission == opened.mission }) {
                throw PluginLoadError(
                    .duplicate, file: opened.manifestPath, moduleABI: opened.tableABI,
                    reason: "module \(clash.id) already serves mission \(clash.mission)")
            }
            let instance = try ModuleInstance(opened, services: services)
            loaded.withLock { $0.append(instance) }
            services.logger.info(
                "loaded mission module",
                metadata: ["module": "\(instance.id)", "mission": "\(instance.mission)", "version": "\(instance.version)"])
            return instance
        } catch {
            services.logger.error("\(error)")
            throw error
        }
    }

    public func evaluateReadiness(mission: String, request: Data) throws -> [UnmetRequirement] {
        guard let module = module(forMission: mission) else {
            throw PluginCallError(.unsupported, module: "-", function: "evaluate_readiness", reason: "no module serves mission \(mission)")
        }
        return try answer(module, "evaluate_readiness") { () throws(PluginCallError) in try module.readiness(request) }
    }

    /// Runs a module's command on its lane, waiting `callBudget` at most.
    public func command(
        _ module: ModuleInstance, _ name: String, arguments: JSONValue = [:]
    ) throws(PluginCallError) -> JSONValue {
        try answer(module, "run_command") { () throws(PluginCallError) in
            try module.command(name, arguments: arguments)
        }
    }

    private func answer<T: Sendable>(
        _ module: ModuleInstance, _ function: String, _ body: @escaping @Sendable () throws(PluginCallError) -> T
    ) throws(PluginCallError) -> T {
        guard let result = module.lane.answer(within: callBudget, { Result(catching: body) }) else {
            throw PluginCallError(
                .timedOut, module: module.id, function: function,
                reason: "the module did not answer within \(callBudget)")
        }
        return try result.get()
    }
}
