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
    /// How long a module may take to load (its library's initializers, its entry point, `create`): one that hangs
    /// is refused, so that the other modules load and the hub starts.
    public let loadBudget: Duration
    /// Opens a module's library in another process first, within the load budget; returns why it is refused
    /// (it crashed or hung there), or nil to open it here.
    public typealias OpenTrial = @Sendable (_ manifest: URL, _ budget: Duration) -> String?
    /// A library that hangs in its initializers hangs inside `dlopen`, which holds the system's loader lock: every
    /// later `dlopen` in the process, and its exit, would wait for it. Tried elsewhere first, it is never opened
    /// here. Nil (a library's own tests) opens every module here at once.
    private let openTrial: OpenTrial?
    private let loaded = Mutex<[ModuleInstance]>([])
    /// The manifest of a module whose library is still opening after its budget: its `dlopen` holds the system's
    /// loader lock, which every later `dlopen` and the process's exit wait for.
    private static let stuckInLoader = Mutex<String?>(nil)

    /// Whether a library hangs inside the system's loader in this process (it passed its trial, then hung here):
    /// the process must then end with `_exit`, since `exit` waits for the loader lock.
    public static var libraryLoaderHeld: Bool { stuckInLoader.withLock { $0 != nil } }

    public init(
        services: HostServices = HostServices(), callBudget: Duration = .seconds(10),
        loadBudget: Duration = .seconds(10), openTrial: OpenTrial? = nil
    ) {
        self.services = services
        self.callBudget = callBudget
        self.loadBudget = loadBudget
        self.openTrial = openTrial
    }

    /// The loaded modules, in load order.
    public var modules: [ModuleInstance] { loaded.withLock { $0 } }

    /// The module serving `mission` (its code, any case), if one is loaded.
    public func module(forMission mission: String) -> ModuleInstance? {
        let code = mission.uppercased()
        return loaded.withLock { $0.first { $0.mission == code } }
    }

    /// Loads every `*.plugin.json` in `directory` (sorted by name) and returns the refusals. A directory that does
    /// not exist refuses nothing (a hub may run without modules): it is named in a warning.
    @discardableResult
    public func loadDirectory(_ directory: URL) -> [PluginLoadError] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            guard FileManager.default.fileExists(atPath: directory.path) else {
                services.logger.warning(
                    "the plugins directory \(directory.path) does not exist: the hub serves no mission module")
                return []
            }
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
            if let stuck = Self.stuckInLoader.withLock({ $0 }) {
                throw PluginLoadError(
                    .openFailed, file: url.standardizedFileURL.path,
                    reason: "not opened: the library of \(stuck) still hangs in its initializers, inside the system's "
                        + "library loader, which every library load waits for; remove that module and restart")
            }
            // A manifest or library the checks refuse is refused as such by the open below (the trial's child
            // refuses it too, and its refusal is not the trial's).
            if let openTrial, let reason = openTrial(url, loadBudget) {
                throw PluginLoadError(
                    .openFailed, file: url.standardizedFileURL.path, moduleABI: Self.manifestABI(url), reason: reason)
            }
            let progress = LoadProgress()
            let instance = try withinLoadBudget(url, progress: progress) { [self] () throws(PluginLoadError) in
                let opened = try PluginLoader.open(manifest: url) {
                    progress.opening.store(false, ordering: .releasing)
                }
                if let clash = modules.first(where: { $0.id == opened.id || $0.mission == opened.mission }) {
                    // Said as what clashes: the id (a copy, or two modules named alike) or the mission.
                    let reason =
                        clash.id == opened.id
                        ? "a module with the id \(clash.id) is loaded already (it serves mission \(clash.mission))"
                        : "module \(clash.id) already serves mission \(clash.mission)"
                    throw PluginLoadError(
                        .duplicate, file: opened.manifestPath, moduleABI: opened.tableABI, reason: reason)
                }
                return try ModuleInstance(opened, services: services)
            }
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

    /// The ABI a manifest declares, for a refusal that happened after it was read (no library is hashed again).
    private static func manifestABI(_ url: URL) -> String {
        (try? PluginManifest.read(from: url)).map { "\($0.abiMajor).\($0.abiMinor)" } ?? "unknown"
    }

    /// Whether a load is still inside `dlopen` (the library's initializers), shared with its thread.
    final class LoadProgress: Sendable {
        let opening = Atomic<Bool>(true)
    }

    /// Runs a module's loading on a thread of its own and waits `loadBudget` at most. A module that hangs there is
    /// refused; its thread is left to it (nothing can stop a call into a library, and none is ever unloaded), and
    /// what it returns, if it ever does, is dropped.
    private func withinLoadBudget(
        _ url: URL, progress: LoadProgress, _ body: @escaping @Sendable () throws(PluginLoadError) -> ModuleInstance
    ) throws(PluginLoadError) -> ModuleInstance {
        final class Outcome: @unchecked Sendable {
            // Written before `done` is signalled, read only after it was.
            var result: Result<ModuleInstance, PluginLoadError>?
        }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            outcome.result = Result { () throws(PluginLoadError) in try body() }
            done.signal()
        }
        let budget = DispatchTimeInterval.nanoseconds(Int(loadBudget / .nanoseconds(1)))
        guard done.wait(timeout: .now() + budget) == .success, let result = outcome.result else {
            if progress.opening.load(ordering: .acquiring) { Self.stuckInLoader.withLock { $0 = url.path } }
            throw PluginLoadError(
                .createFailed, file: url.path, moduleABI: Self.manifestABI(url),
                reason: "it did not finish loading (its library's initializers, its entry point and create) within "
                    + "\(loadBudget): refused, the call left running")
        }
        return try result.get()
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
        let budget = DispatchTimeInterval.nanoseconds(Int(callBudget / .nanoseconds(1)))
        if module.lane.hasOutlived(budget) {
            throw PluginCallError(
                .timedOut, module: module.id, function: function, reason: "not asked: \(module.lane.stuckReason)")
        }
        guard let result = module.lane.answer(within: callBudget, { Result(catching: body) }) else {
            throw PluginCallError(
                .timedOut, module: module.id, function: function,
                reason: "the module did not answer within \(callBudget)")
        }
        return try result.get()
    }
}
