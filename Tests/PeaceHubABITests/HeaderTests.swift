import CPeaceHubABI
import Foundation
import PeaceHubCore
import PeaceHubTesting
import Testing

/// The C header is the binary contract: it must compile cleanly in every language mode a module
/// author may use, and Swift must see the same layout C does.
@Suite struct HeaderTests {
    static let languageModes: [(compiler: String, flags: [String], source: String)] = [
        ("cc", ["-x", "c", "-std=c11"], "c11.c"),
        ("cc", ["-x", "c", "-std=c17"], "c17.c"),
        ("c++", ["-x", "c++", "-std=c++17"], "cpp17.cpp"),
    ]

    @Test(arguments: languageModes.indices)
    func umbrellaHeaderCompilesWithoutWarnings(mode: Int) throws {
        let (compiler, flags, name) = Self.languageModes[mode]
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let source = scratch.url.appendingPathComponent(name)
        try """
            #include "peacehub/peacehub.h"
            int main(void) { return phub_abi_is_compatible(PHUB_ABI_MAJOR, PHUB_ABI_MINOR) ? 0 : 1; }
            """.write(to: source, atomically: true, encoding: .utf8)
        let result = try ProcessRunner.run(
            compiler,
            flags + [
                "-Wall", "-Wextra", "-pedantic", "-Werror", "-I", TestEnvironment.abiIncludeDirectory.path,
                source.path, "-o", scratch.path("a.out"),
            ])
        #expect(result.status == 0, "\(compiler) \(flags.joined(separator: " ")): \(result.stderr)")
        let run = try ProcessRunner.run(scratch.path("a.out"), [])
        #expect(run.status == 0)
    }

    @Test func everyHeaderCompilesOnItsOwn() throws {
        let folder = TestEnvironment.abiIncludeDirectory.appendingPathComponent("peacehub")
        let headers = ["version.h", "status.h", "buffer.h", "message.h", "host.h", "plugin.h", "entry.h", "ext/metrics.h"]
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        for header in headers {
            #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent(header).path))
            let source = scratch.url.appendingPathComponent("one.c")
            try "#include \"peacehub/\(header)\"\n".write(to: source, atomically: true, encoding: .utf8)
            let result = try ProcessRunner.run(
                "cc",
                ["-std=c11", "-Wall", "-Wextra", "-pedantic", "-Werror", "-fsyntax-only", "-I",
                 TestEnvironment.abiIncludeDirectory.path, source.path])
            #expect(result.status == 0, "\(header) alone: \(result.stderr)")
        }
    }

    /// The create error's helper: as much of the text as fits, never half a character.
    @Test func writeCutKeepsWholeCharacters() {
        let text = Array("Қазақстан".utf8)  // two bytes a letter
        var storage = [UInt8](repeating: 0, count: 5)
        storage.withUnsafeMutableBufferPointer { bytes in
            var buffer = phub_buffer_t(
                struct_size: UInt32(MemoryLayout<phub_buffer_t>.size), abi_major: UInt32(PHUB_ABI_MAJOR),
                abi_minor: UInt32(PHUB_ABI_MINOR), reserved: 0, data: bytes.baseAddress, capacity: 5, length: 0)
            text.withUnsafeBufferPointer { source in
                source.withMemoryRebound(to: CChar.self) {
                    phub_buffer_write_cut(&buffer, $0.baseAddress, UInt64(text.count))
                }
            }
            #expect(buffer.length == 4)
        }
        #expect(String(decoding: storage.prefix(4), as: UTF8.self) == "Қа")
    }

    @Test func swiftConstantsMatchTheHeader() {
        #expect(Precedence.routine.rawValue == PHUB_PRECEDENCE_ROUTINE)
        #expect(Precedence.priority.rawValue == PHUB_PRECEDENCE_PRIORITY)
        #expect(Precedence.immediate.rawValue == PHUB_PRECEDENCE_IMMEDIATE)
        #expect(Precedence.flash.rawValue == PHUB_PRECEDENCE_FLASH)
        #expect(RejectReason.malformed.rawValue == PHUB_REASON_MALFORMED)
        #expect(RejectReason.missingField.rawValue == PHUB_REASON_MISSING_FIELD)
        #expect(RejectReason.invalidValue.rawValue == PHUB_REASON_INVALID_VALUE)
        #expect(RejectReason.unknownType.rawValue == PHUB_REASON_UNKNOWN_TYPE)
        #expect(RejectReason.outOfArea.rawValue == PHUB_REASON_OUT_OF_AREA)
        #expect(RejectReason.notPermitted.rawValue == PHUB_REASON_NOT_PERMITTED)
        #expect(RejectReason.missionClosed.rawValue == PHUB_REASON_MISSION_CLOSED)
        #expect(RejectReason.other.rawValue == PHUB_REASON_OTHER)
        #expect(PHUB_PLUGIN_ENTRY_SYMBOL == "phub_plugin_entry_v1")
        #expect(PHUB_EXT_METRICS == "peacehub.metrics/1")
    }
}
