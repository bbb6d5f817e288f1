import Foundation
import PeaceHubTesting
import Testing

/// What an operator sees when a command cannot do what was asked: one line naming the cause, the command's own
/// usage for a bad value (exit 64, as the parser's refusals), and nothing created by mistake.
@Suite struct OperatorErrorsTests {
    /// A mistyped data directory made `registry audit verify` create an empty registry there and call it intact,
    /// the check operations.md's restore ends with.
    @Test func aRegistryReadOnAMistypedDataDirectoryFailsAndCreatesNothing() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let typo = scratch.url.appendingPathComponent("typo")
        for arguments in [["registry", "audit", "verify"], ["registry", "person", "list"]] {
            let result = try ProcessRunner.peacehub(arguments, environment: ["PEACEHUB_DATA_DIR": typo.path])
            #expect(result.status == 1)
            #expect(result.stderr.contains("no registry at \(typo.path)/registry.sqlite"), "\(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: typo.path))
        }
        let empty = try ProcessRunner.peacehub(["registry", "person", "list"], environment: ["PEACEHUB_DATA_DIR": ""])
        #expect(empty.status == 1)
        #expect(empty.stderr.contains("PEACEHUB_DATA_DIR is empty"), "\(empty.stderr)")
    }

    /// A bad value found while the command runs is a usage error with the command's usage (the top level's usage
    /// before); a file-system failure names the system's reason, not Foundation's error domain.
    @Test func badValuesAreUsageErrorsAndFileErrorsNameTheirCause() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let pki = scratch.url.appendingPathComponent("pki").path
        #expect(try ProcessRunner.peacehub(["pki", "init", "--dir", pki]).status == 0)
        let registry = scratch.url.appendingPathComponent("registry.sqlite").path
        #expect(try ProcessRunner.peacehub(["registry", "seed", "--db", registry]).status == 0)
        let asRegistry = try ProcessRunner.peacehub(
            ["registry", "person", "list", "--as", "nonsense", "--db", registry])
        #expect(asRegistry.status == 64)
        #expect(asRegistry.stderr.contains("Usage: peacehub registry person list"), "\(asRegistry.stderr)")
        FileManager.default.createFile(atPath: scratch.url.appendingPathComponent("file").path, contents: nil)
        let underAFile = try ProcessRunner.peacehub(["pki", "init", "--dir", scratch.url.path + "/file/sub"])
        #expect(underAFile.status == 1)
        #expect(underAFile.stderr.contains("/file/sub: Not a directory"), "\(underAFile.stderr)")
        #expect(!underAFile.stderr.contains("NSCocoaErrorDomain"))
        #expect(try ProcessRunner.peacehub(["pki", "init", "--dir", ""]).status == 64)
        #expect(try ProcessRunner.peacehub(["plugins", "check", "x.so", "--timeout", "0"]).status == 64)
        let longName = String(repeating: "a", count: 300)
        let tooLong = try ProcessRunner.peacehub(["plugins", "new", longName, "--mission", "UNDOF", "--lang", "c"])
        #expect(tooLong.status == 64)
        #expect(tooLong.stderr.contains("NAME must be at most 64 characters"), "\(tooLong.stderr)")
        // An id the host would refuse: the scaffold was written, and its `make` then failed.
        let badID = try ProcessRunner.peacehub(
            ["plugins", "new", "desk", "--mission", "UNDOF", "--lang", "c", "--id", "BAD.ID", "--output", scratch.url.path])
        #expect(badID.status == 64)
        #expect(badID.stderr.contains("--id must be lower-case letters"), "\(badID.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scratch.url.appendingPathComponent("desk").path))
        // A mission code longer than the ABI's 16 characters: `plugins manifest` wrote it.
        let library = scratch.url.appendingPathComponent("libx.so")
        FileManager.default.createFile(atPath: library.path, contents: Data("x".utf8))
        let long = try ProcessRunner.peacehub(
            ["plugins", "manifest", library.path, "--id", "org.example.x", "--mission", "ABCDEFGHIJKLMNOPQ"])
        #expect(long.status == 1)
        #expect(long.stderr.contains("key 'mission' must be an upper-case mission code of up to 16"), "\(long.stderr)")
    }

    /// `pub` to a port nothing listens on says so as mosquitto_pub does, not with SwiftNIO's list of attempts.
    @Test func aClientThatCannotConnectSaysWhy() throws {
        let hub = try HubProcess()
        defer { hub.remove() }
        let port = hub.port
        hub.stop()
        let result = try ProcessRunner.peacehub(
            ["pub", "--as", "KAZ", "-t", "contingents/IND/inbox", "-m", "x", "--port", String(port)],
            environment: hub.environment)
        #expect(result.status == 1)
        #expect(result.stderr.contains("cannot connect to 127.0.0.1:\(port): Connection refused"), "\(result.stderr)")
        // An IPv6 address in brackets, as a URL writes it, is the address (it was an unknown host).
        let bracketed = try ProcessRunner.peacehub(
            ["pub", "--as", "KAZ", "-t", "contingents/IND/inbox", "-m", "x", "--host", "[::1]", "--port", String(port)],
            environment: hub.environment)
        #expect(bracketed.status == 1)
        #expect(bracketed.stderr.contains("cannot connect to [::1]:\(port): "), "\(bracketed.stderr)")
        #expect(!bracketed.stderr.contains("unknown host"), "\(bracketed.stderr)")
    }
}

/// A `pki` command run as root on a PKI directory of another user (the hub's) warns before it writes: the key it
/// writes is root's, 0600, and the hub's next reload failed on it with no word at the command. Another user needs
/// root to make.
@Test(.enabled(if: geteuid() == 0)) func aPKICommandAsRootOnAnotherUsersDirectoryWarns() throws {
    let folder = try TemporaryDirectory()
    defer { folder.remove() }
    let environment = ["PEACEHUB_DATA_DIR": folder.url.path]
    #expect(try ProcessRunner.peacehub(["pki", "init"], environment: environment).status == 0)
    let owned = try ProcessRunner.run("chown", ["-R", "65534:65534", folder.path("pki")])
    try #require(owned.status == 0, "\(owned.stderr)")
    let issued = try ProcessRunner.peacehub(["pki", "issue", "--contingent", "KAZ"], environment: environment)
    #expect(issued.status == 0, "\(issued.stderr)")
    #expect(
        issued.stderr.contains("warning: running as root on \(folder.path("pki")), which belongs to uid 65534"),
        "\(issued.stderr)")
    let listed = try ProcessRunner.peacehub(["pki", "list"], environment: environment)
    #expect(listed.status == 0 && !listed.stderr.contains("warning"), "a list writes nothing: \(listed.stderr)")
    // Before the PKI exists: the data directory it will be made in is the hub user's.
    let fresh = try TemporaryDirectory()
    defer { fresh.remove() }
    #expect(chown(fresh.url.path, 65534, 65534) == 0)
    let made = try ProcessRunner.peacehub(["pki", "init"], environment: ["PEACEHUB_DATA_DIR": fresh.url.path])
    #expect(made.stderr.contains("warning: running as root on \(fresh.url.path), which belongs to uid 65534"))
}

/// A command whose standard output was closed (`>&-`) fails rather than writing into /dev/null, where the
/// stream now is so that no other descriptor takes its number: an export said it succeeded.
@Test func anExportToAClosedStandardOutputFails() throws {
    let folder = try TemporaryDirectory()
    defer { folder.remove() }
    let seeded = try ProcessRunner.peacehub(["registry", "seed"], environment: ["PEACEHUB_DATA_DIR": folder.url.path])
    try #require(seeded.status == 0, "\(seeded.stderr)")
    let result = try ProcessRunner.run(
        "sh", ["-c", "\"$0\" registry export --format json >&-", TestEnvironment.peacehubExecutable.path],
        environment: ["PEACEHUB_DATA_DIR": folder.url.path])
    #expect(result.status == 1)
    #expect(result.stderr.contains("cannot write the export to standard output"), "\(result.stderr)")
}
