import Foundation
import PeaceHubTLS
import PeaceHubTesting
import Testing

/// `peacehub serve --config FILE [--check-config]`: every configuration error is one line that
/// names the problem, with a non-zero exit; a good configuration checks out.
@Suite struct ServeConfigurationTests {
    /// A data directory with the PKI `serve` needs, made with the CLI.
    static func prepared() throws -> TemporaryDirectory {
        let data = try TemporaryDirectory(prefix: "phub-config")
        for step in [["pki", "init"], ["pki", "issue-server", "--host", "localhost"]] {
            let result = try ProcessRunner.peacehub(step, environment: ["PEACEHUB_DATA_DIR": data.url.path])
            guard result.status == 0 else { throw FixtureError(result.stderr) }
        }
        return data
    }

    func serve(_ data: TemporaryDirectory, config: String?, _ extra: [String] = []) throws -> ProcessResult {
        var arguments = ["serve", "--check-config"] + extra
        if let config {
            let file = data.url.appendingPathComponent("peacehub.json")
            try config.write(to: file, atomically: true, encoding: .utf8)
            arguments += ["--config", file.path]
        }
        return try ProcessRunner.peacehub(arguments, environment: ["PEACEHUB_DATA_DIR": data.url.path])
    }

    @Test func aGoodConfigurationChecksOut() throws {
        let data = try Self.prepared()
        defer { data.remove() }
        let result = try serve(data, config: #"{"mqtt": {"port": 18883}, "log": {"level": "debug", "format": "json"}}"#)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("configuration OK"))
        #expect(result.stdout.contains("port 18883"))
        // A plugins folder that does not exist: the check says so (it said nothing, and the hub then started with no
        // module, /ready 503), and passes.
        let missing = try serve(data, config: nil, ["--plugins", data.path("no-plugins")])
        #expect(missing.status == 0, "\(missing.stderr)")
        #expect(missing.stdout.contains("warning: the plugins directory \(data.path("no-plugins")) does not exist"))
        let plugins = try TemporaryDirectory(prefix: "phub-plugins")
        defer { plugins.remove() }
        let withPlugins = try serve(data, config: nil, ["--plugins", plugins.url.path])
        #expect(withPlugins.status == 0, "\(withPlugins.stderr)")
        #expect(!withPlugins.stdout.contains("warning"), "\(withPlugins.stdout)")
    }

    @Test(arguments: [
        (#"{"mqtt": {"prot": 1}}"#, "unknown key \"mqtt.prot\""),
        (#"{"mqtt": {"port": "x"}}"#, "mqtt.port must be an integer"),
        (#"{"mqtt": {"durability": "sometimes"}}"#, "mqtt.durability"),
        (#"{"mqtt": "#, "peacehub.json"),
    ])
    func aBadKeyIsNamed(config: String, expected: String) throws {
        let data = try Self.prepared()
        defer { data.remove() }
        let result = try serve(data, config: config)
        #expect(result.status != 0)
        #expect(result.stderr.contains(expected), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "one line: \(result.stderr)")
    }

    /// A host that does not resolve is named by its key before the start (`--check-config` passed it; the start
    /// then failed at bind, after the PKI and the modules had loaded); the value is not shown, as no refused string.
    @Test(arguments: [
        (["--host", "no-such-host.invalid"], "mqtt.host is neither a numeric address nor a name that resolves to one"),
        (["--host", "*"], "mqtt.host is neither"),
    ])
    func anUnresolvableHostIsNamed(options: [String], expected: String) throws {
        let data = try Self.prepared()
        defer { data.remove() }
        let result = try serve(data, config: nil, options)
        #expect(result.status != 0)
        #expect(result.stderr.contains(expected), "\(result.stderr)")
        let admin = try serve(data, config: #"{"admin": {"host": "no-such-host.invalid"}}"#)
        #expect(admin.status != 0)
        #expect(admin.stderr.contains("admin.host is neither"), "\(admin.stderr)")
        #expect(!admin.stderr.contains("no-such-host"), "\(admin.stderr)")
        let off = try serve(data, config: #"{"admin": {"enabled": false, "host": "no-such-host.invalid"}}"#)
        #expect(off.status == 0, "a listener switched off is not checked: \(off.stderr)")
    }

    /// A host `bind` would refuse after the modules had loaded: an IPv6 address in a URL's brackets, and a
    /// link-local address without its interface.
    @Test(arguments: [
        ("[::1]", "mqtt.host is neither a numeric address nor a name that resolves to one (an IPv6 address is written"),
        ("fe80::1", "mqtt.host is a link-local IPv6 address without its interface"),
    ])
    func aHostBindWouldRefuseIsNamed(host: String, expected: String) throws {
        let data = try Self.prepared()
        defer { data.remove() }
        let result = try serve(data, config: nil, ["--host", host])
        #expect(result.status != 0)
        #expect(result.stderr.contains(expected), "\(result.stderr)")
        let unbracketed = try serve(data, config: nil, ["--host", "::1"])
        #expect(unbracketed.status == 0, "\(unbracketed.stderr)")
    }

    /// A registry that is no database (random bytes, a file put in its place) fails the check as it fails the
    /// start: the check passed it, and a unit's `ExecStartPre` then let a start fail again and again.
    @Test func aRegistryThatIsNoDatabaseFailsTheCheck() throws {
        let data = try Self.prepared()
        defer { data.remove() }
        #expect(try serve(data, config: nil).status == 0, "no registry yet: the start makes one")
        try Data((0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) }).write(
            to: data.url.appendingPathComponent("registry.sqlite"))
        let result = try serve(data, config: nil)
        #expect(result.status != 0)
        #expect(result.stderr.contains("cannot open the registry database"), "\(result.stderr)")
    }

    @Test func aMissingFileIsNamed() throws {
        let data = try Self.prepared()
        defer { data.remove() }
        let result = try ProcessRunner.peacehub(
            ["serve", "--check-config", "--config", data.path("absent.json")], environment: ["PEACEHUB_DATA_DIR": data.url.path])
        #expect(result.status != 0)
        #expect(result.stderr.contains("absent.json: the configuration file does not exist"), "\(result.stderr)")
    }

    @Test func anUnreadableCertificateIsNamed() throws {
        let data = try Self.prepared()
        defer { data.remove() }
        try FileManager.default.removeItem(atPath: data.path("pki/server/localhost.pem"))
        let result = try serve(data, config: nil)
        #expect(result.status != 0)
        #expect(result.stderr.contains("pki/server/localhost.pem"), "\(result.stderr)")
    }

    /// `--check-config` loads the TLS material as a start would: a server key that is not the certificate's fails.
    @Test func aKeyThatIsNotTheCertificatesFailsTheCheck() throws {
        let data = try Self.prepared()
        defer { data.remove() }
        let other = try ProcessRunner.peacehub(
            ["pki", "issue", "--contingent", "KAZ"], environment: ["PEACEHUB_DATA_DIR": data.url.path])
        #expect(other.status == 0, "\(other.stderr)")
        let key = data.path("pki/server/localhost.key")
        try FileManager.default.removeItem(atPath: key)
        try FileManager.default.copyItem(atPath: data.path("pki/contingents/KAZ.key"), toPath: key)
        let result = try serve(data, config: nil)
        #expect(result.status == 1)
        #expect(result.stderr.contains("private key \(key) does not match certificate"), "\(result.stderr)")
    }

    /// `--check-config` refuses what the start would: a CRL older than one a run loaded before (a restored backup).
    /// It said OK, and under systemd the start then failed in a loop. It records nothing itself.
    @Test func anOlderCRLFailsTheCheck() throws {
        let data = try Self.prepared()
        defer { data.remove() }
        let numbers = data.path("crl-numbers.json")
        try Data(#"{"CN=PeaceHub CA,O=PeaceHub (key x)": 1}"#.utf8).write(to: URL(fileURLWithPath: numbers))
        #expect(try serve(data, config: nil).status == 0)
        #expect(try String(contentsOfFile: numbers, encoding: .utf8).contains("(key x)"), "the check wrote nothing")
        let files = TLSConfiguration.server(
            certificateFile: data.path("pki/server/localhost.pem"),
            privateKeyFile: data.path("pki/server/localhost.key"), trustedCAFile: data.path("pki/ca.pem"),
            crlFile: data.path("pki/crl.pem"))
        let ca = try #require(try TLSContext(configuration: files).crlNumbers.keys.first)
        try JSONSerialization.data(withJSONObject: [ca: 5]).write(to: URL(fileURLWithPath: numbers))
        let result = try serve(data, config: nil)
        #expect(result.status == 1)
        #expect(result.stderr.contains("is number 1, older than the loaded number 5"), "\(result.stderr)")
    }
}
