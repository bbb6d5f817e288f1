import Foundation
import PeaceHubTesting
import Testing

/// Every built module exports the ABI entry point and nothing else of ours.
@Suite struct ExportedSymbolsTests {
    static var libraries: [URL] {
        [TestEnvironment.pluginsDirectory, TestEnvironment.examplesDirectory].flatMap { folder in
            ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).sorted()
                .filter { $0.hasSuffix(".so") }.map { folder.appendingPathComponent($0) }
        }
    }

    @Test func theExamplesAreBuilt() {
        let names = Set(Self.libraries.map(\.lastPathComponent))
        #expect(names.isSuperset(of: ["libPeaceHubExample.so", "libpeacehub_template_c.so"]), "run `make plugins`")
    }

    @Test(arguments: libraries)
    func onlyTheEntrySymbolIsExported(library: URL) throws {
        let result = try ProcessRunner.run("nm", ["-D", "--defined-only", library.path])
        try #require(result.status == 0, "\(result.stderr)")
        let symbols = result.stdout.split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) }
        #expect(symbols == ["phub_plugin_entry_v1"], "\(library.lastPathComponent) exports \(symbols)")
    }
}
