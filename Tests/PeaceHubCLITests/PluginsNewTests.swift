import Foundation
import PeaceHubTesting
import Testing

/// `plugins new` produces modules that build, pass their own test and `plugins check` as
/// generated, in both languages.
@Suite struct PluginsNewTests {
    @Test func aNewCModuleBuildsAndPassesCheck() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let created = try ProcessRunner.peacehub(
            ["plugins", "new", "undof-watch", "--mission", "UNDOF", "--lang", "c", "--output", scratch.url.path])
        #expect(created.status == 0, "\(created.stderr)")
        let folder = scratch.url.appendingPathComponent("undof-watch")
        for file in ["undof_watch.c", "test_undof_watch.c", "Makefile", "exports.map", "include/peacehub/peacehub.h"] {
            #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent(file).path), "\(file)")
        }
        let test = try ProcessRunner.run("make", ["-C", folder.path, "test"], timeout: 300)
        #expect(test.status == 0, "\(test.stdout)\(test.stderr)")
        #expect(test.stdout.contains("test_undof_watch: all checks passed"))
        #expect(test.stdout.contains("all 14 checks passed"))
        let symbols = try ProcessRunner.run("nm", ["-D", "--defined-only", folder.appendingPathComponent("libundof_watch.so").path])
        #expect(symbols.stdout.split(separator: "\n").compactMap { $0.split(separator: " ").last } == ["phub_plugin_entry_v1"])
    }

    @Test func aNewSwiftModuleBuildsAndPassesItsTestAndCheck() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let created = try ProcessRunner.peacehub(
            ["plugins", "new", "unmiss-desk", "--mission", "UNMISS", "--lang", "swift", "--output", scratch.url.path])
        #expect(created.status == 0, "\(created.stderr)")
        let folder = scratch.url.appendingPathComponent("unmiss-desk")
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("Package.swift").path))
        let test = try ProcessRunner.run("make", ["-C", folder.path, "test"], timeout: 1200)
        #expect(test.status == 0, "\(test.stdout)\(test.stderr)")
        #expect(test.stdout.contains("all 14 checks passed"), "\(test.stdout)")
        let symbols = try ProcessRunner.run(
            "nm", ["-D", "--defined-only", folder.appendingPathComponent(".build/debug/libUnmissDesk.so").path])
        #expect(symbols.stdout.split(separator: "\n").compactMap { $0.split(separator: " ").last } == ["phub_plugin_entry_v1"])
        // A release build is described and checked where SwiftPM puts it, not in .build/debug.
        let release = try ProcessRunner.run("make", ["-n", "-C", folder.path, "test", "CONFIG=release"], timeout: 120)
        #expect(release.status == 0, "\(release.stderr)")
        #expect(release.stdout.contains("swift build -c release --product UnmissDesk"), "\(release.stdout)")
        #expect(release.stdout.contains("/release/libUnmissDesk.so --id"), "\(release.stdout)")
        #expect(!release.stdout.contains("debug/libUnmissDesk"), "\(release.stdout)")
    }

    @Test func refusesABadNameAndAnExistingFolder() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let badName = try ProcessRunner.peacehub(["plugins", "new", "Bad_Name", "--mission", "X", "--lang", "c"])
        #expect(badName.status != 0)
        #expect(badName.stderr.contains("NAME must be lower-case"))
        try FileManager.default.createDirectory(at: scratch.url.appendingPathComponent("taken"), withIntermediateDirectories: true)
        let taken = try ProcessRunner.peacehub(
            ["plugins", "new", "taken", "--mission", "X", "--lang", "c", "--output", scratch.url.path])
        #expect(taken.status != 0)
        #expect(taken.stderr.contains("already exists"))
    }
}
