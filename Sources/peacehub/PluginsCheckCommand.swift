import ArgumentParser
import Foundation
import PeaceHubCore
import PeaceHubPlugins

/// One conformance check: what it calls and how it judges the result.
struct ConformanceCheck: Sendable {
    /// The ABI function under test, named in crash and hang verdicts.
    let function: String
    let title: String
    /// Throws `CLIError` with the reason when the module fails the check.
    let run: @Sendable (ConformanceSubject) throws -> Void
}

/// What the checks run against: the opened module and, once created, its instance.
final class ConformanceSubject: @unchecked Sendable {
    let manifest: URL
    var opened: OpenedModule?
    var instance: ModuleInstance?

    init(manifest: URL) { self.manifest = manifest }

    func requireInstance() throws -> ModuleInstance {
        guard let instance else { throw CLIError("no instance (create did not succeed)") }
        return instance
    }
}

/// The checks `plugins check` runs, in order. The first three build the subject; when one of
/// them fails the rest cannot run.
let conformanceChecks: [ConformanceCheck] = [
    ConformanceCheck(function: "manifest", title: "manifest is valid") { subject in
        do throws(PluginLoadError) { _ = try PluginManifest.read(from: subject.manifest) } catch { throw CLIError(error.reason) }
    },
    // Opening runs the library's initializers before its entry point: a crash or hang may be in either.
    ConformanceCheck(
        function: "its library's initializers or phub_plugin_entry_v1", title: "library opens and its table is complete"
    ) { subject in
        do throws(PluginLoadError) { subject.opened = try PluginLoader.open(manifest: subject.manifest) } catch { throw CLIError(error.reason) }
    },
    ConformanceCheck(function: "create", title: "create succeeds with an empty configuration") { subject in
        guard let opened = subject.opened else { throw CLIError("the library did not open") }
        do throws(PluginLoadError) { subject.instance = try ModuleInstance(opened, services: HostServices()) } catch {
            throw CLIError(error.reason)
        }
    },
    ConformanceCheck(function: "judge_message", title: "judge_message gives a verdict on a JSON report") { subject in
        let module = try subject.requireInstance()
        _ = try module.judge(
            MessageToJudge(
                topic: "missions/\(module.mission)/reports/CONFORMANCE", payload: Array(#"{"summary":"check"}"#.utf8),
                senderContingent: "KAZ", securityLabel: "UN RESTRICTED", precedence: .routine, qos: 1))
    },
    ConformanceCheck(function: "judge_message", title: "judge_message rejects a payload that is not JSON") { subject in
        let module = try subject.requireInstance()
        let verdict = try module.judge(
            MessageToJudge(
                topic: "missions/\(module.mission)/reports/CONFORMANCE", payload: [0xff, 0x00, 0x7b, 0x22],
                senderContingent: "KAZ", precedence: .routine))
        guard case .rejected = verdict else { throw CLIError("accepted a payload that is not JSON") }
    },
    ConformanceCheck(function: "judge_message", title: "judge_message gives a verdict on an empty payload") { subject in
        let module = try subject.requireInstance()
        _ = try module.judge(MessageToJudge(topic: "missions/\(module.mission)/chat/general", payload: []))
    },
    ConformanceCheck(function: "evaluate_readiness", title: "evaluate_readiness answers a person request") { subject in
        let module = try subject.requireInstance()
        let request: JSONValue = [
            "subject": "person", "mission": .string(module.mission), "asOf": "2027-01-10",
            "person": [
                "serviceNumber": "CHECK-1", "contingent": "KAZ", "nationality": "KAZ", "category": "MILITARY_OBSERVER",
                "rank": "Captain", "commissionedServiceYears": 6, "dateOfBirth": "1990-01-01", "sex": "F",
                "languages": [["code": "en", "level": "C1"]], "qualifications": [],
            ],
        ]
        _ = try module.readiness(request.jsonData)
    },
    // `deploy advance` asks for a contingent's readiness, at first with no members assigned.
    ConformanceCheck(
        function: "evaluate_readiness", title: "evaluate_readiness answers a contingent request"
    ) { subject in
        let module = try subject.requireInstance()
        let request: JSONValue = [
            "subject": "contingent", "mission": .string(module.mission), "asOf": "2027-01-10",
            "contingent": ["code": "KAZ", "name": "Kazakh company", "pcrsLevel": "L1", "members": []],
        ]
        _ = try module.readiness(request.jsonData)
    },
    ConformanceCheck(function: "evaluate_readiness", title: "evaluate_readiness refuses malformed JSON") { subject in
        let module = try subject.requireInstance()
        do {
            _ = try module.readiness(Data("{not json".utf8))
            throw CLIError("accepted a malformed request")
        } catch let error as PluginCallError where error.code == .invalidArgument {
            return
        } catch let error as PluginCallError {
            throw CLIError("expected PHUB_ERR_INVALID_ARGUMENT, got \(error.code): \(error.reason)")
        }
    },
    ConformanceCheck(function: "run_command", title: "run_command answers 'describe' with JSON") { subject in
        let module = try subject.requireInstance()
        guard try module.command("describe").objectValue != nil else {
            throw CLIError("'describe' did not return a JSON object")
        }
    },
    ConformanceCheck(function: "run_command", title: "run_command refuses an unknown command") { subject in
        let module = try subject.requireInstance()
        do {
            _ = try module.command("no-such-command-\(UUID().uuidString)")
            throw CLIError("an unknown command succeeded")
        } catch let error as PluginCallError where error.code == .unsupported {
            return
        } catch let error as PluginCallError {
            throw CLIError("expected PHUB_ERR_UNSUPPORTED, got \(error.code): \(error.reason)")
        }
    },
    ConformanceCheck(function: "get_extension", title: "get_extension returns NULL for an unknown id") { subject in
        let module = try subject.requireInstance()
        guard module.extensionTable("org.peacehub.conformance.unknown/1") == nil else {
            throw CLIError("returned a table for an unknown extension id")
        }
    },
    ConformanceCheck(function: "destroy", title: "destroy releases the instance") { subject in
        _ = try subject.requireInstance()
        subject.instance = nil
    },
    // Read from the file, not run: a library that exports more than its entry point can bind a symbol of another
    // module, or of the hub, in place of its own (the exports.map of abi.md keeps it to the entry point).
    ConformanceCheck(function: "phub_plugin_entry_v1", title: "the library exports its entry point alone") { subject in
        guard let opened = subject.opened else { throw CLIError("the library did not open") }
        let exports = try ELFExports.names(ofLibraryAt: opened.libraryPath)
        let others = exports.filter { $0 != "phub_plugin_entry_v1" }.sorted()
        guard others.isEmpty else {
            let shown = others.prefix(3).joined(separator: ", ") + (others.count > 3 ? ", ..." : "")
            throw CLIError(
                "it also exports \(others.count) other symbol(s) (\(shown)): link it with "
                    + "-Wl,--version-script=exports.map (docs/abi.md)")
        }
    },
]

/// The number of leading checks that build the subject.
private let setupCheckCount = 3

/// `plugins check`: runs the checks in a child process (`plugins probe`), so that a module that
/// crashes or hangs yields a verdict instead of taking the checker down.
struct PluginsCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Run the conformance checks on a module in a child process; exit 1 if any fails.")

    @Argument(help: "The module's manifest or library file.")
    var file: String

    @Option(help: "Seconds a single check may take before the module counts as hung.")
    var timeout: Double = 10

    func validate() throws {
        // Below a millisecond every module would count as hung.
        guard timeout.isFinite, timeout >= 0.001 else {
            throw ValidationError("--timeout must be a number of seconds of at least 0.001, not \(timeout)")
        }
    }

    func run() throws {
        let manifest = try manifestURL(for: file)
        print("checking \(manifest.path)")
        var failures = 0
        var skipped = 0
        var next = 0
        while next < conformanceChecks.count {
            let outcome = try runProbe(manifest: manifest, from: next)
            for (index, result) in outcome.results {
                let check = conformanceChecks[index]
                switch result {
                case .passed: print("PASS  \(check.title)")
                case .failed(let reason):
                    failures += 1
                    print("FAIL  \(check.title): \(reason)")
                }
            }
            if outcome.setupFailed {
                // Without a library or an instance no later check can run.
                for check in conformanceChecks[outcome.nextCheck...] { print("SKIP  \(check.title)") }
                skipped = conformanceChecks.count - outcome.nextCheck
                break
            }
            next = outcome.nextCheck
        }
        if failures == 0 {
            print("all \(conformanceChecks.count) checks passed")
        } else {
            print("\(failures) of \(conformanceChecks.count) checks failed" + (skipped > 0 ? ", \(skipped) not run" : ""))
        }
        if failures > 0 { throw ExitCode.failure }
    }

    enum CheckResult { case passed, failed(String) }

    struct ProbeOutcome {
        var results: [(Int, CheckResult)] = []
        /// The first check not yet reported.
        var nextCheck: Int
        /// True when a check that builds the subject (manifest, open, create) failed.
        var setupFailed = false
    }

    /// Runs `plugins probe` from check `from` and turns its lines, its exit and its silence
    /// into results.
    private func runProbe(manifest: URL, from: Int) throws -> ProbeOutcome {
        var outcome = ProbeOutcome(nextCheck: from)
        var current: Int?
        let end = try ChildCommand.run(
            ["plugins", "probe", manifest.path, "--from", String(from)], silenceLimit: timeout
        ) { line in
            let fields = line.split(separator: " ", maxSplits: 2).map(String.init)
            guard fields.count >= 2, let index = Int(fields[1]), conformanceChecks.indices.contains(index) else {
                return
            }
            switch fields[0] {
            case "BEGIN": current = index
            case "PASS":
                outcome.results.append((index, .passed))
                outcome.nextCheck = index + 1
                current = nil
            case "FAIL":
                // A setup check that fails while the module is rebuilt (index < from) is reported too.
                outcome.results.append((index, .failed(fields.count > 2 ? fields[2] : "failed")))
                if index >= from { outcome.nextCheck = index + 1 }
                current = nil
                if index < setupCheckCount { outcome.setupFailed = true }
            default: break
            }
        }
        // No BEGIN line pending means the child stopped while it rebuilt the module: setup failed.
        let index = current ?? outcome.nextCheck
        let place = current.map { conformanceChecks[$0].function } ?? "create (rebuilding the module)"
        let what: String
        switch end {
        // A child that exits 0 with a check begun, or having run none, was ended by the module itself (`exit`).
        case .exited(0) where current == nil && outcome.nextCheck > from: return outcome
        case .exited(0): what = "the module ended the process (exit status 0) in \(place)"
        case .exited(let status): what = "the checker child exited with status \(status) in \(place)"
        case .crashed(let signal): what = "crashed with signal \(signal) (\(signalName(signal))) in \(place)"
        case .silent:
            let function = conformanceChecks.indices.contains(index) ? conformanceChecks[index].function : place
            what = "hung for more than \(formatSeconds(timeout)) in \(function)"
        }
        guard conformanceChecks.indices.contains(index) else { return outcome }
        outcome.results.append((index, .failed(what)))
        outcome.nextCheck = index + 1
        if current == nil || index < setupCheckCount { outcome.setupFailed = true }
        return outcome
    }
}

/// `plugins probe`: the child side of `plugins check`. It runs the setup checks (silently when
/// starting past them), skips the other checks before `--from`, and reports each check it runs
/// as BEGIN / PASS / FAIL lines on its report channel (`ChildReport`).
struct PluginsProbe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe", abstract: "Run conformance checks in this process (used by 'plugins check').",
        shouldDisplay: false)

    @Argument var manifest: String
    @Option var from: Int = 0

    func run() throws {
        let report = ChildReport()
        let subject = ConformanceSubject(manifest: URL(fileURLWithPath: manifest))
        for index in conformanceChecks.indices where index < setupCheckCount || index >= from {
            let check = conformanceChecks[index]
            let reporting = index >= from
            if reporting { report.line("BEGIN \(index) \(check.function)") }
            do {
                try check.run(subject)
                if reporting { report.line("PASS \(index)") }
            } catch {
                let reason = (error as? CLIError)?.description ?? "\(error)"
                if reporting || index < setupCheckCount {
                    report.line("FAIL \(index) \(reason.replacingOccurrences(of: "\n", with: " "))")
                }
                if index < setupCheckCount { return }
            }
        }
    }
}
