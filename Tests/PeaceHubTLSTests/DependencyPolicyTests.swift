import Foundation
import PeaceHubTesting
import Testing

/// The hub uses the system OpenSSL 3 only: nothing may bring BoringSSL into the `peacehub` executable.
///
/// swift-nio-ssl and swift-crypto vendor BoringSSL under prefixed symbols, so pulling one in would link without
/// complaint; these checks make it fail loudly instead.
@Suite struct DependencyPolicyTests {
    static let forbiddenPackages = ["swift-nio-ssl", "swift-crypto", "swift-certificates", "boringssl"]

    @Test func packageGraphHasNoBoringSSLPackages() throws {
        // A private scratch folder: the one `swift test` uses is locked while the tests run. TMPDIR points there too,
        // as SwiftPM leaves lock files in the temporary folder.
        let scratch = try TemporaryDirectory(prefix: "phub-deps")
        defer { scratch.remove() }
        let result = try ProcessRunner.run(
            "swift",
            [
                "package", "--package-path", TestEnvironment.packageRoot.path, "--scratch-path", scratch.path("scratch"),
                "show-dependencies", "--format", "json",
            ],
            environment: ["TMPDIR": scratch.url.path], timeout: 600)
        #expect(result.status == 0, "\(result.stderr)")
        let graph = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let packages = Self.packages(in: graph)
        #expect(packages.contains("swift-nio"))
        for package in packages {
            #expect(
                !Self.forbiddenPackages.contains { package.lowercased().contains($0) }, "the graph contains \(package)")
        }
        // Also by URL, in case a fork is renamed.
        let text = result.stdout.lowercased()
        for name in Self.forbiddenPackages {
            #expect(!text.contains(name), "the package graph mentions \(name)")
        }
    }

    /// Every package identity in the `show-dependencies` tree.
    static func packages(in node: [String: Any]) -> [String] {
        let children = node["dependencies"] as? [[String: Any]] ?? []
        return [node["identity"] as? String ?? ""] + children.flatMap { packages(in: $0) }
    }

    @Test func binaryDefinesNoBoringSSLSymbols() throws {
        let binary = TestEnvironment.peacehubExecutable.path
        let result = try ProcessRunner.run("nm", ["-C", binary], timeout: 300)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("SSL_new"))  // the symbol table was read and OpenSSL is referenced
        let offending = result.stdout.split(separator: "\n").filter { $0.contains("BoringSSL") }
        #expect(offending.isEmpty, "\(offending.prefix(5))")
    }

    @Test func binaryLinksTheSystemOpenSSL3() throws {
        let binary = TestEnvironment.peacehubExecutable.path
        let dynamic = try ProcessRunner.run("readelf", ["-d", binary], timeout: 60)
        #expect(dynamic.stdout.contains("Shared library: [libssl.so.3]"))
        #expect(dynamic.stdout.contains("Shared library: [libcrypto.so.3]"))
        let resolved = try ProcessRunner.run("ldd", [binary], timeout: 60)
        let lines = resolved.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        for library in ["libssl.so.3", "libcrypto.so.3"] {
            let line = lines.first { $0.hasPrefix(library) }
            #expect(
                line?.contains("=> /usr/lib/") == true || line?.contains("=> /lib/") == true, "\(line ?? "missing")")
        }
    }
}
