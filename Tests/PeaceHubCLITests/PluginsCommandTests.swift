import Foundation
import PeaceHubTesting
import Testing

/// `peacehub plugins ...` and `peacehub mission ...`, run as the built binary.
@Suite struct PluginsCommandTests {
    let examples = TestEnvironment.examplesDirectory.path

    @Test func listShowsEveryManifestAndItsChecksum() throws {
        let result = try ProcessRunner.peacehub(["plugins", "list", examples])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.first?.hasPrefix("MISSION") == true)
        #expect(lines.contains { $0.hasPrefix("EXAMPLE") && $0.hasSuffix("ok") })
        #expect(lines.contains { $0.hasPrefix("TEMPLATE") && $0.contains("libpeacehub_template_c.so") && $0.hasSuffix("ok") })
    }

    /// `list` runs no module code but makes every check before `dlopen` that the host makes: a manifest for
    /// another ABI major, or a library that changed, is not "ok".
    @Test func listSaysWhatTheHostWouldRefuse() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        for name in try FileManager.default.contentsOfDirectory(atPath: examples) {
            try FileManager.default.copyItem(atPath: "\(examples)/\(name)", toPath: scratch.path(name))
        }
        let manifest = scratch.path("org.peacehub.template-c.plugin.json")
        let text = try String(contentsOfFile: manifest, encoding: .utf8)
        try text.replacingOccurrences(of: #""abiMajor" : 1"#, with: #""abiMajor" : 2"#)
            .write(toFile: manifest, atomically: true, encoding: .utf8)
        let library = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch.path("libPeaceHubExample.so")))
        library.seekToEndOfFile()
        library.write(Data([0]))
        try library.close()

        // Two more modules for TEMPLATE: the first that would load keeps the mission, as in the host.
        for id in ["org.peacehub.zz", "org.peacehub.zzz"] {
            let copy = scratch.path("lib\(id).so")
            try FileManager.default.copyItem(atPath: scratch.path("libpeacehub_template_c.so"), toPath: copy)
            let written = try ProcessRunner.peacehub(["plugins", "manifest", copy, "--id", id, "--mission", "TEMPLATE"])
            #expect(written.status == 0, "\(written.stderr)")
        }

        try Data(#"{"id": "x"}"#.utf8).write(to: scratch.url.appendingPathComponent("broken.plugin.json"))
        let table = try ProcessRunner.peacehub(["plugins", "list", scratch.url.path])
        #expect(table.stdout.contains("invalid: broken.plugin.json: missing key"), "an unreadable manifest by name")
        let result = try ProcessRunner.peacehub(["plugins", "list", scratch.url.path, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: String]])
        let status = Dictionary(uniqueKeysWithValues: rows.map { ($0["manifest"] ?? "", $0["status"]) })
        #expect(status["org.peacehub.template-c.plugin.json"] == "ABI 2.x: the host speaks 1.x")
        #expect(status["org.peacehub.example.plugin.json"] == "checksum mismatch")
        #expect(status["org.peacehub.zz.plugin.json"] == "ok", "the module refused before it does not count")
        #expect(status["org.peacehub.zzz.plugin.json"] == "duplicate: org.peacehub.zz.plugin.json loads first")
    }

    @Test func inspectShowsManifestABIAndFunctions() throws {
        let result = try ProcessRunner.peacehub(["plugins", "inspect", "\(examples)/libpeacehub_template_c.so", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["id"] as? String == "org.peacehub.template-c")
        #expect(object["tableABI"] as? String == "1.0")
        #expect(object["hostABI"] as? String == "1.0")
        let functions = try #require(object["functions"] as? [String: Bool])
        #expect(functions == [
            "create": true, "destroy": true, "judge_message": true, "evaluate_readiness": true, "run_command": true,
            "get_extension": true,
        ])
    }

    /// `inspect` is run on a module before it is trusted: its version and name cannot write a line of their own or
    /// send escape sequences to the operator's terminal.
    @Test func inspectEscapesTheModulesTexts() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let manifest = try FixtureModules.build(.controlText, into: scratch.url)
        let result = try ProcessRunner.peacehub(["plugins", "inspect", manifest.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!result.stdout.contains("\u{1B}"), "\(result.stdout)")
        #expect(!result.stdout.split(separator: "\n").contains { $0.hasPrefix("FORGED") })
        #expect(result.stdout.contains(#"1.0\nFORGED \u{1B}[31mRED (fixture\u{1B}[2J)"#), "\(result.stdout)")
    }

    @Test func inspectRefusesWithTheHostsReason() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let manifest = try FixtureModules.build(.smallTable, into: scratch.url)
        let result = try ProcessRunner.peacehub(["plugins", "inspect", manifest.path])
        #expect(result.status != 0)
        #expect(result.stderr.contains("table too small (48 < 104 bytes)"), "\(result.stderr)")
        #expect(!result.stderr.contains("Fatal error"))
    }

    /// Opening a library runs its entry point: one that crashes or hangs there gets a verdict, not a dead `inspect`.
    @Test func inspectNamesAnEntryPointThatCrashesOrHangs() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let crashing = try FixtureModules.build(.entryCrash, into: scratch.url, id: "org.peacehub.crash")
        let crashed = try ProcessRunner.peacehub(["plugins", "inspect", crashing.path])
        #expect(crashed.status == 1)
        #expect(!crashed.signaled)
        #expect(
            crashed.stderr.contains(
                "the module crashed with signal 11 (SIGSEGV) while its library was opened "
                    + "(its initializers, phub_plugin_entry_v1, or the host reading its table)"), "\(crashed.stderr)")

        let hanging = try FixtureModules.build(.entryHang, into: scratch.url, id: "org.peacehub.hang")
        let hung = try ProcessRunner.peacehub(["plugins", "inspect", hanging.path, "--json", "--timeout", "1"])
        #expect(hung.status == 1)
        #expect(hung.stderr.contains("the module hung for more than 1 s while its library was opened"), "\(hung.stderr)")
        #expect(hung.stdout.isEmpty)

        let checked = try ProcessRunner.peacehub(["plugins", "check", crashing.path])
        #expect(checked.status == 1)
        #expect(
            checked.stdout.contains(
                "FAIL  library opens and its table is complete: crashed with signal 11 (SIGSEGV) in its library's "
                    + "initializers or phub_plugin_entry_v1"),
            "\(checked.stdout)")
        #expect(checked.stdout.contains("SKIP  create succeeds"))
    }

    @Test(arguments: ["libPeaceHubExample.so", "libpeacehub_template_c.so"])
    func checkPassesOnAGoodModule(library: String) throws {
        let result = try ProcessRunner.peacehub(["plugins", "check", "\(examples)/\(library)"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("all 14 checks passed"))
        #expect(!result.stdout.contains("FAIL"))
    }

    /// abi.md asks a module to export its entry point alone; `check` reads the library's dynamic symbol table.
    @Test func checkNamesWhatALibraryExportsBesideItsEntryPoint() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let manifest = try FixtureModules.build(.extraExports, into: scratch.url)
        let result = try ProcessRunner.peacehub(["plugins", "check", manifest.path])
        #expect(result.status == 1)
        #expect(
            result.stdout.contains(
                "FAIL  the library exports its entry point alone: it also exports 3 other symbol(s) "
                    + "(fixture_absolute, fixture_counter, fixture_helper): link it with "
                    + "-Wl,--version-script=exports.map (docs/abi.md)"),
            "\(result.stdout)")
        #expect(result.stdout.contains("PASS  destroy releases the instance"), "\(result.stdout)")
    }

    /// The exports are read as the dynamic loader finds them, through the dynamic segment: a library stripped of its
    /// section headers (as `sstrip` does), which loads all the same, is judged as before (it failed check 13).
    @Test(arguments: [FixtureModules.Kind.plain, .extraExports])
    func checkReadsTheExportsOfALibraryWithoutSectionHeaders(kind: FixtureModules.Kind) throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        try FixtureModules.build(kind, into: scratch.url)
        let library = scratch.url.appendingPathComponent("liborg_peacehub_fixture.so")
        var bytes = [UInt8](try Data(contentsOf: library))
        for field in [0x28..<0x30, 0x3C..<0x40] {  // e_shoff; e_shnum and e_shstrndx
            bytes.replaceSubrange(field, with: repeatElement(0, count: field.count))
        }
        try Data(bytes).write(to: library)
        let manifest = try FixtureModules.writeManifest(
            library: library, id: "org.peacehub.fixture", mission: "FIXTURE")
        let result = try ProcessRunner.peacehub(["plugins", "check", manifest.path])
        if kind == .plain {  // which fails another check: it accepts a malformed readiness request
            #expect(result.stdout.contains("PASS  the library exports its entry point alone"), "\(result.stdout)")
        } else {
            #expect(result.status == 1)
            #expect(
                result.stdout.contains(
                    "it also exports 3 other symbol(s) (fixture_absolute, fixture_counter, fixture_helper)"),
                "\(result.stdout)")
        }
    }

    @Test func checkNamesTheSignalAndFunctionOfACrash() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let manifest = try FixtureModules.build(.crash, into: scratch.url)
        let result = try ProcessRunner.peacehub(["plugins", "check", manifest.path])
        #expect(result.status == 1)
        #expect(!result.signaled)
        #expect(result.stdout.contains("FAIL  judge_message gives a verdict on a JSON report: crashed with signal 11 (SIGSEGV) in judge_message"), "\(result.stdout)")
        // The checks after the crash still ran, each in a fresh child.
        #expect(result.stdout.contains("PASS  run_command answers 'describe' with JSON"))
    }

    @Test func checkNamesTheFunctionThatHangs() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let manifest = try FixtureModules.build(.hang, into: scratch.url)
        let result = try ProcessRunner.peacehub(["plugins", "check", manifest.path, "--timeout", "1"])
        #expect(result.status == 1)
        #expect(result.stdout.contains("FAIL  judge_message gives a verdict on a JSON report: hung for more than 1 s in judge_message"), "\(result.stdout)")
        #expect(result.stdout.contains("PASS  destroy releases the instance"))
    }

    /// What a module prints on stdout is not the checker's report: a hung module that printed a line a second was
    /// never found hung, and a forged `PASS 6` passed a check.
    @Test func checkIsNotFooledByAModuleThatPrints() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let manifest = try FixtureModules.build(.chattyHang, into: scratch.url)
        let result = try ProcessRunner.peacehub(["plugins", "check", manifest.path, "--timeout", "1"], timeout: 60)
        #expect(result.status == 1)
        let hung = "FAIL  judge_message gives a verdict on a JSON report: hung for more than 1 s in judge_message"
        #expect(result.stdout.contains(hung), "\(result.stdout)")
        #expect(!result.stdout.contains("tick"))
        #expect(result.stdout.contains("PASS  destroy releases the instance"))
    }

    @Test func checkOfAModuleThatCannotBeCreatedSkipsTheRest() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let manifest = try FixtureModules.build(.createFails, into: scratch.url)
        let result = try ProcessRunner.peacehub(["plugins", "check", manifest.path])
        #expect(result.status == 1)
        #expect(result.stdout.contains("FAIL  create succeeds with an empty configuration"))
        #expect(result.stdout.contains("the data file areas.geojson is corrupt"))
        #expect(result.stdout.contains("SKIP  judge_message"))
    }

    @Test func missionCommandRunsAModuleCommandThroughTheHost() throws {
        let describe = try ProcessRunner.peacehub(["mission", "example", "describe", "--plugins", examples, "--json"])
        #expect(describe.status == 0, "\(describe.stderr)")
        #expect(describe.stdout.contains(#""mission":"EXAMPLE""#))
        let echo = try ProcessRunner.peacehub(
            ["mission", "EXAMPLE", "echo", "--args", #"{"lat":33.27}"#, "--plugins", examples])
        #expect(echo.stdout == "lat: 33.27\n")
        let unknown = try ProcessRunner.peacehub(["mission", "NOWHERE", "describe", "--plugins", examples])
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("no module for mission NOWHERE"))
        let badCommand = try ProcessRunner.peacehub(["mission", "EXAMPLE", "fly", "--plugins", examples])
        #expect(badCommand.status != 0)
        #expect(badCommand.stderr.contains("unknown command 'fly'"))
    }

    /// A library that hangs in its initializers hangs inside `dlopen`, holding the system's loader lock: opened in
    /// the process, it kept every later module from loading (each refused after the budget) and the process from
    /// ever exiting. Opened first in a child process, it is refused there, and the next module loads.
    @Test func aLibraryThatHangsInItsInitializersIsRefusedAndTheNextModuleLoads() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        try FixtureModules.build(.initializerHang, into: scratch.url, id: "org.peacehub.a-hang", mission: "HANG")
        try FixtureModules.build(.plain, into: scratch.url, id: "org.peacehub.b-plain", mission: "PLAIN")
        let started = Date()
        let result = try ProcessRunner.peacehub(
            ["mission", "PLAIN", "describe", "--json", "--plugins", scratch.url.path], timeout: 60)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains(#""mission":"PLAIN""#), "\(result.stdout)")
        #expect(
            result.stderr.contains(
                "it did not finish opening within 10.0 seconds while its library was opened in a child process"),
            "\(result.stderr)")
        #expect(Date().timeIntervalSince(started) < 30, "one budget, not one per module, and the process exits")
    }

    /// A log level the tools do not know is refused, as `serve` refuses it (it was silently ignored).
    @Test func anUnknownLogLevelIsRefused() throws {
        let result = try ProcessRunner.peacehub(
            ["plugins", "list", examples], environment: ["PEACEHUB_LOG_LEVEL": "loud"])
        #expect(result.status == 1)
        #expect(
            result.stderr.contains(
                "PEACEHUB_LOG_LEVEL is 'loud', not one of trace, debug, info, notice, warning, error, critical"),
            "\(result.stderr)")
    }

    /// `help` of a command that does not exist is an error, as the command itself is (it printed the top-level help
    /// and exited 0); `help` of one that does prints its help.
    @Test(arguments: [["help", "nosuch"], ["help", "pki", "nosuch"]])
    func helpOfAnUnknownCommandFails(arguments: [String]) throws {
        let result = try ProcessRunner.peacehub(arguments)
        #expect(result.status == 64)
        #expect(result.stderr.contains("help: no command 'nosuch'"), "\(result.stderr)")
        let known = try ProcessRunner.peacehub(Array(arguments.dropLast()))
        #expect(known.status == 0, "\(known.stderr)")
        #expect(known.stdout.contains("USAGE: peacehub"))
        #expect(try ProcessRunner.peacehub(["help", "help"]).status == 0)
    }

    /// A library that opens in its trial and then hangs in its initializers in the process holds the system's loader
    /// lock: every later module was refused after its own budget, and the process never ended (`exit` waits for the
    /// lock). Later modules are now refused at once, naming it, and the process ends.
    @Test func aLibraryThatHangsOnlyInTheProcessStopsTheLoadsAfterItAndTheProcessStillEnds() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        try FixtureModules.build(.initializerHangSecond, into: scratch.url, id: "org.peacehub.a-hang", mission: "HANG")
        try FixtureModules.build(.plain, into: scratch.url, id: "org.peacehub.b-plain", mission: "PLAIN")
        let started = Date()
        let result = try ProcessRunner.peacehub(
            ["mission", "PLAIN", "describe", "--plugins", scratch.url.path],
            environment: ["FIXTURE_MARKER": scratch.path("opened")], timeout: 60)
        #expect(Date().timeIntervalSince(started) < 30, "one budget, and the process ends")
        #expect(result.status == 1)
        #expect(result.stderr.contains("did not finish loading"), "\(result.stderr)")
        #expect(
            result.stderr.contains(
                "not opened: the library of \(scratch.path("org.peacehub.a-hang.plugin.json")) still hangs in its "
                    + "initializers"), "\(result.stderr)")
    }

    /// A library whose initializer leaves a process behind is loaded: the trial waited for its child's report
    /// pipe to close, which that process held past the load budget, and refused the module as hung (and `serve`
    /// started only when that process ended). The trial now sees its child exit.
    @Test func aLibraryThatLeavesAProcessBehindIsLoaded() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        try FixtureModules.build(.initializerDaemon, into: scratch.url, id: "org.peacehub.daemon", mission: "DAEMON")
        let result = try ProcessRunner.peacehub(
            ["mission", "DAEMON", "describe", "--json", "--plugins", scratch.url.path], timeout: 60)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains(#""mission":"DAEMON""#), "\(result.stdout)")
    }

    /// A library that calls `exit` while it opens passed the trial as "opened" and then ended the CLI (and `serve`)
    /// without a word; `check` started child after child for ever and `inspect` said nothing. Status 1, the status
    /// of the trial's own refusal, passed as one (the module was then opened in the process, which it ended).
    @Test(arguments: [(FixtureModules.Kind.initializerExit, 0), (.initializerExitFailure, 1)])
    func aLibraryThatEndsTheProcessWhileOpeningIsRefused(kind: FixtureModules.Kind, status: Int) throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let exiting = try FixtureModules.build(kind, into: scratch.url, id: "org.peacehub.a-exit", mission: "EXIT")
        try FixtureModules.build(.plain, into: scratch.url, id: "org.peacehub.b-plain", mission: "PLAIN")
        let mission = try ProcessRunner.peacehub(
            ["mission", "PLAIN", "describe", "--json", "--plugins", scratch.url.path], timeout: 60)
        #expect(
            mission.status == 0 && mission.stdout.contains(#""mission":"PLAIN""#), "\(mission.stdout)\(mission.stderr)")
        let ended = "ended the process (exit status \(status)) while its library was opened"
        #expect(mission.stderr.contains("it \(ended) in a child"), "\(mission.stderr)")
        let inspect = try ProcessRunner.peacehub(["plugins", "inspect", exiting.path], timeout: 60)
        #expect(inspect.status == 1)
        #expect(inspect.stderr.contains("the module \(ended)"), "\(inspect.stderr)")
        let check = try ProcessRunner.peacehub(["plugins", "check", exiting.path], timeout: 60)
        #expect(check.status == 1)
        let failed = check.stdout.split(separator: "\n").first { $0.hasPrefix("FAIL  library opens") } ?? ""
        #expect(failed.contains("status \(status)"), "\(check.stdout)")
    }

    /// The trial child's own error went to the command's stderr (on Linux `FileHandle.nullDevice` has no
    /// descriptor to give it): each refusal was said twice, once outside the log's format (`log.format` json).
    @Test func aRefusalIsSaidOnceByTheHost() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let library = scratch.url.appendingPathComponent("libnotelf.so")
        try Data("not an ELF file".utf8).write(to: library)
        try FixtureModules.writeManifest(library: library, id: "org.peacehub.notelf", mission: "NOTELF")
        try FixtureModules.build(.plain, into: scratch.url, id: "org.peacehub.plain", mission: "PLAIN")
        let mission = try ProcessRunner.peacehub(
            ["mission", "PLAIN", "describe", "--json", "--plugins", scratch.url.path], timeout: 60)
        #expect(mission.status == 0, "\(mission.stderr)")
        let lines = mission.stderr.split(separator: "\n").filter { $0.contains("org.peacehub.notelf.plugin.json") }
        #expect(lines.count == 1, "\(mission.stderr)")
    }

    /// Western Sahara lies west of Greenwich: a negative longitude is a value, not an option.
    @Test func geocheckTakesNegativeCoordinates() throws {
        let plugins = TestEnvironment.pluginsDirectory.path
        let west = try ProcessRunner.peacehub(
            ["mission", "MINURSO", "geocheck", "26.0", "-11.0", "--json", "--plugins", plugins])
        #expect(west.status == 0, "\(west.stderr)")
        #expect(west.stdout.contains(#""insideArea":true"#) && west.stdout.contains(#""lon":-11"#), "\(west.stdout)")
        let south = try ProcessRunner.peacehub(["mission", "MINURSO", "geocheck", "--plugins", plugins, "-26", "-11"])
        #expect(south.status == 0 && south.stdout.contains("insideArea: false"), "\(south.stdout)\(south.stderr)")
        let separated = try ProcessRunner.peacehub(
            ["mission", "MINURSO", "geocheck", "--plugins", plugins, "--", "21.37", "-16.96"])
        // On the berm itself: in the buffer strip, the zone that starts at it (it was in no zone).
        #expect(
            separated.status == 0 && separated.stdout.contains("sideOfLine: ON_LINE")
                && separated.stdout.contains("zone: BUFFER_STRIP"), "\(separated.stdout)\(separated.stderr)")
        let option = try ProcessRunner.peacehub(["mission", "MINURSO", "describe", "--bogus", "--plugins", plugins])
        #expect(option.status != 0)
        #expect(option.stderr.contains("unknown option '--bogus'"), "\(option.stderr)")
    }

    @Test func manifestCommandWritesAManifestTheHostAccepts() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let library = scratch.url.appendingPathComponent("libcopy.so")
        try FileManager.default.copyItem(atPath: "\(examples)/libpeacehub_template_c.so", toPath: library.path)
        let written = try ProcessRunner.peacehub(
            ["plugins", "manifest", library.path, "--id", "org.peacehub.template-c", "--mission", "TEMPLATE"])
        #expect(written.status == 0, "\(written.stderr)")
        let check = try ProcessRunner.peacehub(["plugins", "check", library.path])
        #expect(check.status == 0, "\(check.stdout)")
        let before = try FileManager.default.contentsOfDirectory(atPath: scratch.url.path).sorted()
        let bad = try ProcessRunner.peacehub(["plugins", "manifest", library.path, "--id", "Bad Id", "--mission", "X"])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("key 'id'"))
        // Named by the file it would have written, not by a draft already gone.
        #expect(bad.stderr.contains("the host would refuse \(scratch.path("Bad Id.plugin.json"))"), "\(bad.stderr)")
        #expect(!bad.stderr.contains(".tmp"))
        // A manifest the host refuses is named with its reason when the library's manifest cannot be found.
        try Data(#"{"id": "Bad Id"}"#.utf8).write(to: scratch.url.appendingPathComponent("broken.plugin.json"))
        let lost = try ProcessRunner.peacehub(["plugins", "inspect", scratch.path("libnone.so")])
        #expect(lost.status != 0)
        #expect(lost.stderr.contains("refused beside it: broken.plugin.json: "), "\(lost.stderr)")
        try FileManager.default.removeItem(at: scratch.url.appendingPathComponent("broken.plugin.json"))
        let outside = try ProcessRunner.peacehub(
            ["plugins", "manifest", library.path, "--id", "org.peacehub.template-c", "--mission", "TEMPLATE",
             "--data", "../../etc"])
        #expect(outside.status != 0)
        #expect(outside.stderr.contains("key 'data'"))
        // A refused manifest is not left for the host to refuse again, nor does it replace the good one.
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.url.path).sorted() == before)
        #expect(try ProcessRunner.peacehub(["plugins", "check", library.path]).status == 0)
    }
}
