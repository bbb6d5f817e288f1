import Foundation

/// Builds modules from `Fixtures/fixture.c` with `cc`, one behaviour per build, and lays them
/// out as the host expects: the library plus its manifest.
public enum FixtureModules {
    /// The behaviours `fixture.c` knows (its `-DFIXTURE_<KIND>` switches).
    public enum Kind: String, Sendable, CaseIterable {
        /// A well-behaved module that reports what it received.
        case plain = "PLAIN"
        /// Calls every host service in `create`; the `services` command reports what it saw.
        case services = "SERVICES"
        /// Dereferences NULL in `judge_message`.
        case crash = "CRASH"
        /// Never returns from `judge_message`.
        case hang = "HANG"
        /// Never returns from `judge_message` either, printing all the while to stdout, where it first writes lines
        /// that look like `plugins check`'s report.
        case chattyHang = "CHATTY_HANG"
        /// Returns garbage: bad JSON, lengths beyond buffers, an unknown verdict, non-UTF-8 text.
        case garbage = "GARBAGE"
        case createFails = "CREATE_FAILS"
        /// Fails `create` with a text longer than the error buffer, written with `phub_buffer_write` (which copies
        /// nothing that does not fit).
        case createFailsLong = "CREATE_FAILS_LONG"
        case smallTable = "SMALL_TABLE"
        case nullJudge = "NULL_JUDGE"
        case noEntry = "NO_ENTRY"
        case entryNull = "ENTRY_NULL"
        /// Dereferences NULL in `phub_plugin_entry_v1`.
        case entryCrash = "ENTRY_CRASH"
        /// Never returns from `phub_plugin_entry_v1`.
        case entryHang = "ENTRY_HANG"
        /// Exports a function and a variable beside its entry point.
        case extraExports = "EXTRA_EXPORTS"
        /// Opens once (the child trial, which creates the file `FIXTURE_MARKER` names), then hangs in its
        /// initializer every time after.
        case initializerHangSecond = "INITIALIZER_HANG_SECOND"
        /// Forks a process from the library's initializer that lives 12 s with the descriptors it inherited.
        case initializerDaemon = "INITIALIZER_DAEMON"
        /// Calls `exit(0)` from the library's initializer.
        case initializerExit = "INITIALIZER_EXIT"
        /// Calls `exit(1)` from the library's initializer.
        case initializerExitFailure = "INITIALIZER_EXIT_FAILURE"
        /// Never returns from the library's initializer (a constructor), inside `dlopen`.
        case initializerHang = "INITIALIZER_HANG"
        case tableABI2 = "TABLE_ABI_2"
        /// A version and display name with a line break and terminal escape sequences.
        case controlText = "CONTROL_TEXT"
    }

    static var source: URL {
        TestEnvironment.packageRoot.appendingPathComponent("Sources/PeaceHubTesting/Fixtures/fixture.c")
    }

    /// Compiles a fixture into `directory` and writes its manifest; returns the manifest's URL.
    @discardableResult
    public static func build(
        _ kind: Kind, into directory: URL, id: String = "org.peacehub.fixture", mission: String = "FIXTURE"
    ) throws -> URL {
        let library = directory.appendingPathComponent("lib\(id.replacingOccurrences(of: ".", with: "_")).so")
        let result = try ProcessRunner.run(
            "cc",
            [
                "-std=c11", "-shared", "-fPIC", "-O1", "-fvisibility=hidden", "-DFIXTURE_\(kind.rawValue)",
                "-DFIXTURE_ID=\"\(id)\"", "-DFIXTURE_MISSION=\"\(mission)\"",
                "-I", TestEnvironment.abiIncludeDirectory.path, source.path, "-o", library.path,
            ])
        guard result.status == 0 else { throw FixtureError("cc failed for \(kind): \(result.stderr)") }
        return try writeManifest(library: library, id: id, mission: mission)
    }

    /// Compiles `Fixtures/rust_module.rs`, a module written in Rust from the header's layout
    /// alone, into `directory` and writes its manifest; returns the manifest's URL.
    @discardableResult
    public static func buildRust(into directory: URL) throws -> URL {
        let source = TestEnvironment.packageRoot.appendingPathComponent("Sources/PeaceHubTesting/Fixtures/rust_module.rs")
        let library = directory.appendingPathComponent("libpeacehub_rust.so")
        let result = try ProcessRunner.run(
            "rustc", ["--edition", "2021", "--crate-type", "cdylib", "-O", source.path, "-o", library.path], timeout: 300)
        guard result.status == 0 else { throw FixtureError("rustc failed: \(result.stderr)") }
        return try writeManifest(library: library, id: "org.peacehub.rust", mission: "RUST")
    }

    /// Writes `<id>.plugin.json` beside `library`. Each argument can be overridden to make a
    /// manifest that lies.
    @discardableResult
    public static func writeManifest(
        library: URL, id: String, mission: String, abiMajor: Int = 1, abiMinor: Int = 0, sha256: String? = nil,
        data: String? = nil
    ) throws -> URL {
        let digest = try sha256 ?? sha256Hex(of: library)
        var object: [String: Any] = [
            "id": id, "mission": mission, "abiMajor": abiMajor, "abiMinor": abiMinor,
            "library": library.lastPathComponent, "sha256": digest,
        ]
        if let data { object["data"] = data }
        let url = library.deletingLastPathComponent().appendingPathComponent("\(id).plugin.json")
        try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]).write(to: url)
        return url
    }

    /// The SHA-256 of a file, by coreutils' `sha256sum`.
    public static func sha256Hex(of file: URL) throws -> String {
        let result = try ProcessRunner.run("sha256sum", [file.path])
        guard result.status == 0, let digest = result.stdout.split(separator: " ").first else {
            throw FixtureError("sha256sum failed: \(result.stderr)")
        }
        return String(digest)
    }
}

/// A fixture could not be built.
public struct FixtureError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
