import CPeaceHubABI
import Foundation
import PeaceHubTesting
import Testing

/// C `sizeof`/`offsetof` must equal Swift's `MemoryLayout` for every boundary struct: the host
/// is Swift, modules are anything that speaks C.
@Suite struct LayoutTests {
    /// Each boundary struct: its C name, Swift's size, and every field with Swift's offset.
    static let structs: [(name: String, size: Int, fields: [(String, Int?)])] = [
        (
            "phub_buffer_t", MemoryLayout<phub_buffer_t>.size,
            header(\phub_buffer_t.struct_size, \phub_buffer_t.abi_major, \phub_buffer_t.abi_minor, \phub_buffer_t.reserved) + [
                ("data", MemoryLayout<phub_buffer_t>.offset(of: \.data)),
                ("capacity", MemoryLayout<phub_buffer_t>.offset(of: \.capacity)),
                ("length", MemoryLayout<phub_buffer_t>.offset(of: \.length)),
            ]
        ),
        (
            "phub_message_t", MemoryLayout<phub_message_t>.size,
            header(\phub_message_t.struct_size, \phub_message_t.abi_major, \phub_message_t.abi_minor, \phub_message_t.reserved) + [
                ("topic", MemoryLayout<phub_message_t>.offset(of: \.topic)),
                ("report_type", MemoryLayout<phub_message_t>.offset(of: \.report_type)),
                ("payload", MemoryLayout<phub_message_t>.offset(of: \.payload)),
                ("payload_size", MemoryLayout<phub_message_t>.offset(of: \.payload_size)),
                ("sender_contingent", MemoryLayout<phub_message_t>.offset(of: \.sender_contingent)),
                ("sender_operator", MemoryLayout<phub_message_t>.offset(of: \.sender_operator)),
                ("security_label", MemoryLayout<phub_message_t>.offset(of: \.security_label)),
                ("received_unix_ns", MemoryLayout<phub_message_t>.offset(of: \.received_unix_ns)),
                ("precedence", MemoryLayout<phub_message_t>.offset(of: \.precedence)),
                ("qos", MemoryLayout<phub_message_t>.offset(of: \.qos)),
            ]
        ),
        (
            "phub_verdict_t", MemoryLayout<phub_verdict_t>.size,
            header(\phub_verdict_t.struct_size, \phub_verdict_t.abi_major, \phub_verdict_t.abi_minor, \phub_verdict_t.reserved) + [
                ("decision", MemoryLayout<phub_verdict_t>.offset(of: \.decision)),
                ("reason_code", MemoryLayout<phub_verdict_t>.offset(of: \.reason_code)),
                ("reason", MemoryLayout<phub_verdict_t>.offset(of: \.reason)),
                ("annotations", MemoryLayout<phub_verdict_t>.offset(of: \.annotations)),
            ]
        ),
        (
            "phub_create_info_t", MemoryLayout<phub_create_info_t>.size,
            header(\phub_create_info_t.struct_size, \phub_create_info_t.abi_major, \phub_create_info_t.abi_minor, \phub_create_info_t.reserved) + [
                ("library_path", MemoryLayout<phub_create_info_t>.offset(of: \.library_path)),
                ("data_dir", MemoryLayout<phub_create_info_t>.offset(of: \.data_dir)),
            ]
        ),
        (
            "phub_host_t", MemoryLayout<phub_host_t>.size,
            header(\phub_host_t.struct_size, \phub_host_t.abi_major, \phub_host_t.abi_minor, \phub_host_t.reserved) + [
                ("host_data", MemoryLayout<phub_host_t>.offset(of: \.host_data)),
                ("name", MemoryLayout<phub_host_t>.offset(of: \.name)),
                ("version", MemoryLayout<phub_host_t>.offset(of: \.version)),
                ("log", MemoryLayout<phub_host_t>.offset(of: \.log)),
                ("alloc", MemoryLayout<phub_host_t>.offset(of: \.alloc)),
                ("free", MemoryLayout<phub_host_t>.offset(of: \.free)),
                ("clock_unix_ns", MemoryLayout<phub_host_t>.offset(of: \.clock_unix_ns)),
                ("clock_monotonic_ns", MemoryLayout<phub_host_t>.offset(of: \.clock_monotonic_ns)),
                ("publish", MemoryLayout<phub_host_t>.offset(of: \.publish)),
                ("registry_get", MemoryLayout<phub_host_t>.offset(of: \.registry_get)),
                ("get_config", MemoryLayout<phub_host_t>.offset(of: \.get_config)),
                ("get_extension", MemoryLayout<phub_host_t>.offset(of: \.get_extension)),
            ]
        ),
        (
            "phub_plugin_t", MemoryLayout<phub_plugin_t>.size,
            header(\phub_plugin_t.struct_size, \phub_plugin_t.abi_major, \phub_plugin_t.abi_minor, \phub_plugin_t.reserved) + [
                ("id", MemoryLayout<phub_plugin_t>.offset(of: \.id)),
                ("mission", MemoryLayout<phub_plugin_t>.offset(of: \.mission)),
                ("version", MemoryLayout<phub_plugin_t>.offset(of: \.version)),
                ("display_name", MemoryLayout<phub_plugin_t>.offset(of: \.display_name)),
                ("plugin_data", MemoryLayout<phub_plugin_t>.offset(of: \.plugin_data)),
                ("create", MemoryLayout<phub_plugin_t>.offset(of: \.create)),
                ("destroy", MemoryLayout<phub_plugin_t>.offset(of: \.destroy)),
                ("judge_message", MemoryLayout<phub_plugin_t>.offset(of: \.judge_message)),
                ("evaluate_readiness", MemoryLayout<phub_plugin_t>.offset(of: \.evaluate_readiness)),
                ("run_command", MemoryLayout<phub_plugin_t>.offset(of: \.run_command)),
                ("get_extension", MemoryLayout<phub_plugin_t>.offset(of: \.get_extension)),
            ]
        ),
        (
            "phub_host_metrics_t", MemoryLayout<phub_host_metrics_t>.size,
            header(\phub_host_metrics_t.struct_size, \phub_host_metrics_t.abi_major, \phub_host_metrics_t.abi_minor, \phub_host_metrics_t.reserved) + [
                ("counter_add", MemoryLayout<phub_host_metrics_t>.offset(of: \.counter_add)),
                ("timer_record_ns", MemoryLayout<phub_host_metrics_t>.offset(of: \.timer_record_ns)),
            ]
        ),
    ]

    /// The four header fields every boundary struct starts with (identical names in each).
    static func header<T>(
        _ size: KeyPath<T, UInt32>, _ major: KeyPath<T, UInt32>, _ minor: KeyPath<T, UInt32>,
        _ reserved: KeyPath<T, UInt32>
    ) -> [(String, Int?)] {
        [
            ("struct_size", MemoryLayout<T>.offset(of: size)), ("abi_major", MemoryLayout<T>.offset(of: major)),
            ("abi_minor", MemoryLayout<T>.offset(of: minor)), ("reserved", MemoryLayout<T>.offset(of: reserved)),
        ]
    }

    @Test func cLayoutEqualsSwiftLayout() throws {
        // Print C's view of every struct and field, then compare line by line.
        var program = "#include <stdio.h>\n#include <stddef.h>\n#include \"peacehub/peacehub.h\"\nint main(void) {\n"
        for item in Self.structs {
            program += "  printf(\"\(item.name) size %zu\\n\", sizeof(\(item.name)));\n"
            for (field, _) in item.fields {
                program += "  printf(\"\(item.name) \(field) %zu\\n\", offsetof(\(item.name), \(field)));\n"
            }
        }
        program += "  return 0;\n}\n"
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let source = scratch.url.appendingPathComponent("layout.c")
        try program.write(to: source, atomically: true, encoding: .utf8)
        let build = try ProcessRunner.run(
            "cc", ["-std=c11", "-Wall", "-Werror", "-I", TestEnvironment.abiIncludeDirectory.path, source.path, "-o",
                   scratch.path("layout")])
        try #require(build.status == 0, "\(build.stderr)")
        let run = try ProcessRunner.run(scratch.path("layout"), [])
        var c: [String: Int] = [:]
        for line in run.stdout.split(separator: "\n") {
            let parts = line.split(separator: " ")
            c["\(parts[0]) \(parts[1])"] = Int(parts[2])
        }
        for item in Self.structs {
            #expect(c["\(item.name) size"] == item.size, "sizeof(\(item.name))")
            for (field, offset) in item.fields {
                #expect(offset != nil, "\(item.name).\(field) has no Swift offset")
                #expect(c["\(item.name) \(field)"] == offset, "offsetof(\(item.name), \(field))")
            }
        }
    }
}
