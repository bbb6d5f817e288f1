import Foundation
import PeaceHubPlugins
import PeaceHubTesting
import Testing

/// One test per refusal reason, in the host's order. Each refusal names the file, both ABI
/// versions and the reason.
@Suite struct RefusalTests {
    /// Loads `manifest` and returns the refusal, which must name the manifest and both ABIs.
    func refusal(_ manifest: URL, moduleABI: String = "1.0") throws -> PluginLoadError {
        let error = try #require(#expect(throws: PluginLoadError.self) { try PluginHost().load(manifest: manifest) })
        #expect(error.description.contains(manifest.standardizedFileURL.path), "\(error)")
        #expect(error.description.contains("module ABI \(moduleABI), host ABI 1.0"), "\(error)")
        return error
    }

    @Test func missingManifest() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let error = try refusal(scratch.url.appendingPathComponent("ghost.plugin.json"), moduleABI: "unknown")
        #expect(error.code == .manifestInvalid)
        #expect(error.reason == "no manifest file")
    }

    @Test(arguments: [
        ("{", "the manifest is not valid JSON"),
        ("[]", "the manifest is not a JSON object"),
        // Foundation read the first id, Python the last.
        (#"{"id":"a","id":"b","mission":"M","abiMajor":1,"abiMinor":0,"library":"l.so","sha256":""}"#, "appears twice"),
        (#"{"id":"x","mission":"ABCDEFGHIJKLMNOPQ","abiMajor":1,"abiMinor":0,"library":"l.so","sha256":""}"#,
         "key 'mission'"),
        (#"{"id":"x","mission":"M","abiMajor":1,"abiMinor":0,"library":"l.so"}"#, "missing key 'sha256'"),
        (#"{"id":"x","mission":"M","abiMajor":"one","abiMinor":0,"library":"l.so","sha256":""}"#, "key 'abiMajor'"),
        (#"{"id":"x","mission":"M","abiMajor":1.5,"abiMinor":0,"library":"l.so","sha256":""}"#, "key 'abiMajor'"),
        (#"{"id":"x","mission":"M","abiMajor":1,"abiMinor":4294967296,"library":"","sha256":""}"#, "key 'abiMinor'"),
        (#"{"id":"x","mission":"M","abiMajor":1,"abiMinor":0,"library":"l.so","sha256":"0","extra":1}"#, "unknown key 'extra'"),
        (#"{"id":"x","mission":"M","abiMajor":1,"abiMinor":0,"library":"../l.so","sha256":"\#(String(repeating: "a", count: 64))"}"#, "key 'library'"),
        (#"{"id":"x","mission":"M","abiMajor":1,"abiMinor":0,"library":"l.so","sha256":"xyz"}"#, "key 'sha256'"),
    ])
    func invalidManifest(text: String, reason: String) throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let manifest = scratch.url.appendingPathComponent("x.plugin.json")
        try text.write(to: manifest, atomically: true, encoding: .utf8)
        let error = try #require(#expect(throws: PluginLoadError.self) { try PluginHost().load(manifest: manifest) })
        #expect(error.code == .manifestInvalid)
        #expect(error.description.contains(manifest.path))
        #expect(error.description.contains("host ABI 1.0"))
        #expect(error.reason.contains(reason), "\(error.reason)")
    }

    @Test func abiMajorMismatchInTheManifestIsRefusedBeforeLoading() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        // The library does not even exist: the ABI check comes first, so it is never opened.
        let manifest = try FixtureModules.writeManifest(
            library: scratch.url.appendingPathComponent("libfuture.so"), id: "org.peacehub.future", mission: "FUTURE",
            abiMajor: 2, abiMinor: 3, sha256: String(repeating: "0", count: 64))
        let error = try refusal(manifest, moduleABI: "2.3")
        #expect(error.code == .abiMismatch)
        #expect(error.reason.contains("built for ABI 2.3"))
    }

    @Test func abiMajorMismatchInTheTable() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let error = try refusal(try FixtureModules.build(.tableABI2, into: scratch.url))
        #expect(error.code == .abiMismatch)
        #expect(error.reason.contains("table declares ABI 2.0"))
    }

    /// The manifest's minor version must be the one the table declares: the host reads the table by it.
    @Test func abiMinorOfTheManifestDiffersFromTheTables() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let manifest = try FixtureModules.build(.plain, into: scratch.url)
        try FixtureModules.writeManifest(
            library: scratch.url.appendingPathComponent("liborg_peacehub_fixture.so"), id: "org.peacehub.fixture",
            mission: "FIXTURE", abiMinor: 1)
        let error = try refusal(manifest, moduleABI: "1.1")
        #expect(error.code == .tableInvalid)
        #expect(error.reason == "the table declares ABI 1.0, the manifest 1.1", "\(error.reason)")
    }

    @Test func checksumMismatch() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let manifest = try FixtureModules.build(.plain, into: scratch.url)
        let library = scratch.url.appendingPathComponent("liborg_peacehub_fixture.so")
        try FixtureModules.writeManifest(
            library: library, id: "org.peacehub.fixture", mission: "FIXTURE", sha256: String(repeating: "a", count: 64))
        let error = try refusal(manifest)
        #expect(error.code == .checksumMismatch)
        #expect(error.reason.contains("manifest says aaaa"))
    }

    @Test func dlopenError() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let library = scratch.url.appendingPathComponent("libnotelf.so")
        try Data("this is not an ELF file".utf8).write(to: library)
        let manifest = try FixtureModules.writeManifest(library: library, id: "org.peacehub.notelf", mission: "NOTELF")
        let error = try refusal(manifest)
        #expect(error.code == .openFailed)
        #expect(error.reason.contains("libnotelf.so"))
    }

    @Test func missingLibrary() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let manifest = try FixtureModules.writeManifest(
            library: scratch.url.appendingPathComponent("libgone.so"), id: "org.peacehub.gone", mission: "GONE",
            sha256: String(repeating: "b", count: 64))
        let error = try refusal(manifest)
        #expect(error.code == .openFailed)
        #expect(error.reason.contains("does not exist"))
    }

    /// A plugins directory that does not exist refuses nothing: it is a warning, as `serve --check-config` says (it
    /// was an error-level refusal whose reason spoke of a manifest). One that cannot be listed is refused.
    @Test func missingPluginsDirectoryIsAWarning() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let log = CapturedLog()
        let host = PluginHost(services: HostServices(logger: log.logger()))
        let missing = scratch.url.appendingPathComponent("no-plugins")
        #expect(host.loadDirectory(missing).isEmpty)
        #expect(host.modules.isEmpty)
        let warning = "the plugins directory \(missing.path) does not exist: the hub serves no mission module"
        #expect(log.entries.map(\.level) == [.warning])
        #expect(log.entries.map(\.message) == [warning])
        let file = scratch.url.appendingPathComponent("a-file")
        try Data().write(to: file)
        let refusals = host.loadDirectory(file)
        #expect(refusals.map(\.code) == [.manifestInvalid])
        #expect(refusals.first?.reason == "cannot list the plugins directory")
    }

    @Test func noEntrySymbol() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let error = try refusal(try FixtureModules.build(.noEntry, into: scratch.url))
        #expect(error.code == .noEntrySymbol)
        #expect(error.reason.contains("phub_plugin_entry_v1"))
    }

    @Test func entryReturnedNull() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let error = try refusal(try FixtureModules.build(.entryNull, into: scratch.url))
        #expect(error.code == .entryReturnedNull)
        #expect(error.reason.contains("returned NULL"))
    }

    @Test func tableTooSmall() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let error = try refusal(try FixtureModules.build(.smallTable, into: scratch.url))
        #expect(error.code == .tableInvalid)
        #expect(error.reason.contains("table too small (48 < 104 bytes)"))
    }

    @Test func requiredFunctionNull() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let error = try refusal(try FixtureModules.build(.nullJudge, into: scratch.url))
        #expect(error.code == .tableInvalid)
        #expect(error.reason.contains("'judge_message' is NULL"))
    }

    @Test func tableDisagreesWithTheManifest() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        try FixtureModules.build(.plain, into: scratch.url)
        let manifest = try FixtureModules.writeManifest(
            library: scratch.url.appendingPathComponent("liborg_peacehub_fixture.so"), id: "org.peacehub.fixture",
            mission: "OTHER")
        let error = try refusal(manifest)
        #expect(error.code == .tableInvalid)
        #expect(error.reason.contains("mission 'FIXTURE'"))
    }

    @Test func createFailedCarriesTheModulesMessage() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let error = try refusal(try FixtureModules.build(.createFails, into: scratch.url))
        #expect(error.code == .createFailed)
        let escaped = #"the data file areas.geojson is corrupt\n\u{1B}[31mforged line"#
        #expect(error.reason.hasSuffix(escaped), "\(error.reason)")
        // A text longer than the buffer, written with phub_buffer_write, arrives as nothing: the host says why.
        let long = try refusal(try FixtureModules.build(.createFailsLong, into: scratch.url, id: "org.peacehub.long"))
        #expect(
            long.reason.hasSuffix(
                "status 7: no message: its 2000 bytes were not cut to the 1024 given (phub_buffer_write_cut)"),
            "\(long.reason)")
    }
}
