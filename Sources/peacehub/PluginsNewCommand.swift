import ArgumentParser
import Foundation
import PeaceHubPlugins

/// `plugins new`: scaffolds a module that builds and passes `plugins check` as generated.
struct PluginsNew: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "new",
        abstract: "Scaffold a new mission module in Swift or C (sources, Makefile, a test).",
        discussion: """
            Creates NAME/ with the sources, a Makefile (make: build and write the manifest; make test: the module's \
            own test, then `peacehub plugins check`) and, for Swift, a Package.swift that links PeaceHubPluginKit \
            from the PeaceHub source tree (--sdk).
            """
    )

    enum Language: String, ExpressibleByArgument, CaseIterable {
        case swift, c
    }

    @Argument(help: "The module's name: lower-case letters, digits and '-', starting with a letter.")
    var name: String

    @Option(help: "The UN mission code the module serves, e.g. UNDOF.")
    var mission: String

    @Option(help: "The language: swift or c.")
    var lang: Language

    @Option(help: "The module id (default: org.peacehub.NAME).")
    var id: String?

    @Option(help: "Where to create NAME/ (default: the current directory).")
    var output: String = "."

    @Option(help: "The PeaceHub source tree, for the headers and PluginKit (default: the one this binary was built from).")
    var sdk: String?

    func validate() throws {
        guard let first = name.first, first.isLowercase, first.isASCII,
            name.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") })
        else { throw ValidationError("NAME must be lower-case letters, digits and '-', starting with a letter") }
        // A folder name, and a mission code the template's buffers hold.
        guard name.count <= 64 else { throw ValidationError("NAME must be at most 64 characters") }
        if let problem = PluginManifest.missionProblem(mission) {
            throw ValidationError("--mission \(problem), e.g. UNDOF")
        }
        // The scaffold's manifest must pass the host's checks (`make` writes it).
        if let id, let problem = PluginManifest.idProblem(id) { throw ValidationError("--id \(problem)") }
    }

    func run() throws {
        let sdkRoot = URL(fileURLWithPath: sdk ?? ProcessInfo.processInfo.environment["PEACEHUB_SDK"] ?? Self.builtFromTree)
            .standardizedFileURL
        let headers = sdkRoot.appendingPathComponent("Sources/CPeaceHubABI/include/peacehub")
        guard FileManager.default.fileExists(atPath: headers.appendingPathComponent("peacehub.h").path) else {
            throw CLIError("no PeaceHub headers under \(sdkRoot.path): pass --sdk with the PeaceHub source tree")
        }
        let folder = URL(fileURLWithPath: output).appendingPathComponent(name).standardizedFileURL
        guard !FileManager.default.fileExists(atPath: folder.path) else {
            throw CLIError("\(folder.path) already exists; choose another NAME or --output")
        }
        let scaffold = Scaffold(
            name: name, mission: mission, id: id ?? "org.peacehub.\(name)", sdk: sdkRoot,
            peacehub: URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path)
        let files = lang == .c ? try scaffold.cFiles() : scaffold.swiftFiles()
        for (path, text) in files {
            let url = folder.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        if lang == .c {
            let include = folder.appendingPathComponent("include/peacehub")
            try FileManager.default.createDirectory(at: include.deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: headers, to: include)
        }
        print("created \(folder.path) (\(lang.rawValue) module \(scaffold.id) for \(mission))")
        print("next: make -C \(folder.path) test")
    }

    /// The source tree this binary was compiled from.
    static var builtFromTree: String {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }
}

/// The files of a new module.
struct Scaffold {
    let name: String
    let mission: String
    let id: String
    let sdk: URL
    let peacehub: String

    /// `alpha-one` → `AlphaOne`.
    var typeName: String {
        name.split(separator: "-").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }

    var cName: String { name.replacingOccurrences(of: "-", with: "_") }

    static let exportsMap = """
        /* Export the ABI entry point and nothing else. */
        {
            global: phub_plugin_entry_v1;
            local: *;
        };

        """

    func cFiles() throws -> [(String, String)] {
        let template = try String(
            contentsOf: sdk.appendingPathComponent("Plugins/template-c/template.c"), encoding: .utf8)
        let source = template
            .replacingOccurrences(of: "\"org.peacehub.template-c\"", with: "\"\(id)\"")
            .replacingOccurrences(of: "#define TEMPLATE_MISSION \"TEMPLATE\"", with: "#define TEMPLATE_MISSION \"\(mission)\"")
            .replacingOccurrences(of: "Template mission module (C)", with: "\(mission) mission module (\(name))")
        let makefile = """
            # Build, describe and check the \(mission) mission module.
            #   make        build lib\(cName).so and write its manifest \(id).plugin.json
            #   make test   run test_\(cName), then `peacehub plugins check`
            PEACEHUB ?= \(peacehub)
            CC ?= cc
            CFLAGS ?= -std=c11 -O2 -Wall -Wextra -pedantic -Werror

            all: lib\(cName).so \(id).plugin.json

            lib\(cName).so: \(cName).c exports.map
            \t$(CC) $(CFLAGS) -shared -fPIC -fvisibility=hidden -Iinclude -Wl,--version-script=exports.map $< -o $@

            \(id).plugin.json: lib\(cName).so
            \t$(PEACEHUB) plugins manifest lib\(cName).so --id \(id) --mission \(mission)

            test_\(cName): test_\(cName).c \(cName).c
            \t$(CC) $(CFLAGS) -Iinclude test_\(cName).c \(cName).c -o $@

            test: all test_\(cName)
            \t./test_\(cName)
            \t$(PEACEHUB) plugins check lib\(cName).so

            clean:
            \trm -f lib\(cName).so \(id).plugin.json test_\(cName)

            .PHONY: all test clean

            """
        let test = """
            /* The module's own test: a minimal host table, then every table function once. */
            #include <stdio.h>
            #include <stdlib.h>
            #include <string.h>
            #include <time.h>

            #include "peacehub/peacehub.h"

            static void host_log(const phub_host_t *host, phub_log_level_t level, const char *message) {
                (void)host;
                fprintf(stderr, "[log %d] %s\\n", level, message);
            }
            static void *host_alloc(const phub_host_t *host, uint64_t size) { (void)host; return malloc(size ? size : 1); }
            static void host_free(const phub_host_t *host, void *block) { (void)host; free(block); }
            static int64_t host_clock(const phub_host_t *host) { (void)host; return (int64_t)time(NULL) * 1000000000LL; }
            static phub_status_t host_publish(const phub_host_t *host, const char *topic, const uint8_t *payload,
                                              uint64_t size, phub_precedence_t precedence) {
                (void)host; (void)topic; (void)payload; (void)size; (void)precedence;
                return PHUB_ERR_UNAVAILABLE;
            }
            static phub_status_t host_registry(const phub_host_t *host, const char *kind, const char *key,
                                               phub_buffer_t *out) {
                (void)host; (void)kind; (void)key; (void)out;
                return PHUB_ERR_UNAVAILABLE;
            }
            static phub_status_t host_config(const phub_host_t *host, phub_buffer_t *out) {
                (void)host;
                return phub_buffer_write(out, "{}", 2);
            }
            static const void *host_extension(const phub_host_t *host, const char *id) { (void)host; (void)id; return NULL; }

            #define CHECK(condition) do { if (!(condition)) { fprintf(stderr, "FAILED: %s\\n", #condition); return 1; } } while (0)

            int main(void) {
                phub_host_t host = {sizeof(phub_host_t), PHUB_ABI_MAJOR, PHUB_ABI_MINOR, 0, NULL, "test", "1",
                                    host_log, host_alloc, host_free, host_clock, host_clock, host_publish,
                                    host_registry, host_config, host_extension};
                const phub_plugin_t *plugin = phub_plugin_entry_v1(PHUB_ABI_MAJOR, PHUB_ABI_MINOR);
                CHECK(plugin != NULL && strcmp(plugin->mission, "\(mission)") == 0);
                CHECK(phub_plugin_entry_v1(PHUB_ABI_MAJOR + 1, 0) == NULL);
                char error_text[256];
                phub_buffer_t error = {sizeof(phub_buffer_t), PHUB_ABI_MAJOR, PHUB_ABI_MINOR, 0, (uint8_t *)error_text,
                                       sizeof error_text, 0};
                phub_create_info_t info = {sizeof(phub_create_info_t), PHUB_ABI_MAJOR, PHUB_ABI_MINOR, 0, "", "."};
                void *instance = NULL;
                CHECK(plugin->create(plugin, &host, &info, &instance, &error) == PHUB_OK);

                char reason_text[256], annotation_text[256];
                phub_buffer_t reason = {sizeof(phub_buffer_t), PHUB_ABI_MAJOR, PHUB_ABI_MINOR, 0, (uint8_t *)reason_text,
                                        sizeof reason_text, 0};
                phub_buffer_t annotations = {sizeof(phub_buffer_t), PHUB_ABI_MAJOR, PHUB_ABI_MINOR, 0,
                                             (uint8_t *)annotation_text, sizeof annotation_text, 0};
                phub_verdict_t verdict = {sizeof(phub_verdict_t), PHUB_ABI_MAJOR, PHUB_ABI_MINOR, 0, 0, 0, &reason,
                                          &annotations};
                const char *good = "{\\"summary\\":\\"quiet\\"}";
                phub_message_t message = {sizeof(phub_message_t), PHUB_ABI_MAJOR, PHUB_ABI_MINOR, 0,
                                          "missions/\(mission)/reports/PATROL", "PATROL", (const uint8_t *)good,
                                          strlen(good), "KAZ", NULL, "UN RESTRICTED", 0, PHUB_PRECEDENCE_ROUTINE, 1};
                CHECK(plugin->judge_message(instance, &message, &verdict) == PHUB_OK);
                CHECK(verdict.decision == PHUB_DECISION_ACCEPT);
                message.payload = (const uint8_t *)"nonsense";
                message.payload_size = 8;
                CHECK(plugin->judge_message(instance, &message, &verdict) == PHUB_OK);
                CHECK(verdict.decision == PHUB_DECISION_REJECT);

                char output_text[1024];
                phub_buffer_t output = {sizeof(phub_buffer_t), PHUB_ABI_MAJOR, PHUB_ABI_MINOR, 0, (uint8_t *)output_text,
                                        sizeof output_text, 0};
                const char *request = "{\\"subject\\":\\"person\\",\\"person\\":{\\"qualifications\\":[{\\"code\\":\\"UN-CPTM\\"}]}}";
                CHECK(plugin->evaluate_readiness(instance, (const uint8_t *)request, strlen(request), &output) == PHUB_OK);
                CHECK(output.length == 2 && memcmp(output_text, "[]", 2) == 0);
                const char *contingent = "{\\"subject\\":\\"contingent\\",\\"contingent\\":{\\"members\\":["
                                         "{\\"serviceNumber\\":\\"A-1\\",\\"qualifications\\":[{\\"code\\":\\"UN-CPTM\\"}]},"
                                         "{\\"serviceNumber\\":\\"A-2\\",\\"qualifications\\":[]}]}}";
                CHECK(plugin->evaluate_readiness(instance, (const uint8_t *)contingent, strlen(contingent), &output) == PHUB_OK);
                CHECK(output.length < sizeof output_text);
                output_text[output.length] = '\\0';
                CHECK(strstr(output_text, "\\"A-2\\"") != NULL && strstr(output_text, "\\"A-1\\"") == NULL);
                CHECK(plugin->run_command(instance, "describe", (const uint8_t *)"{}", 2, &output) == PHUB_OK);
                CHECK(plugin->run_command(instance, "no-such-command", (const uint8_t *)"{}", 2, &output) == PHUB_ERR_UNSUPPORTED);
                plugin->destroy(plugin, instance);
                printf("test_\(cName): all checks passed\\n");
                return 0;
            }

            """
        return [("\(cName).c", source), ("test_\(cName).c", test), ("Makefile", makefile), ("exports.map", Self.exportsMap)]
    }

    func swiftFiles() -> [(String, String)] {
        let sdkIdentity = sdk.lastPathComponent
        let package = """
            // swift-tools-version: 6.1
            import PackageDescription

            // A PeaceHub mission module: a dynamic library that exports phub_plugin_entry_v1 only.
            let package = Package(
                name: "\(typeName)",
                products: [.library(name: "\(typeName)", type: .dynamic, targets: ["\(typeName)"])],
                dependencies: [.package(path: "\(sdk.path)")],
                targets: [
                    .target(
                        name: "\(typeName)",
                        dependencies: [.product(name: "PeaceHubPluginKit", package: "\(sdkIdentity)")],
                        linkerSettings: [
                            .unsafeFlags(["-use-ld=lld", "-Xlinker", "--version-script=\\(Context.packageDirectory)/exports.map"])
                        ]
                    ),
                    .testTarget(
                        name: "\(typeName)Tests",
                        dependencies: ["\(typeName)", .product(name: "PeaceHubPluginKit", package: "\(sdkIdentity)")]
                    ),
                ],
                swiftLanguageModes: [.v6]
            )

            """
        let source = """
            import Foundation
            import PeaceHubCore
            import PeaceHubPluginKit

            /// The \(mission) mission module. Replace the rules in judge, readiness and run with the mission's own.
            public final class \(typeName)Module: MissionModule {
                public static let descriptor = ModuleDescriptor(
                    id: "\(id)", mission: "\(mission)", version: "0.1.0", displayName: "\(mission) mission module")

                let host: ModuleHost

                public init(context: ModuleContext) throws {
                    host = context.host
                }

                public func judge(_ message: Message) -> Verdict {
                    guard let report = message.json, report.objectValue != nil else {
                        return .reject(.malformed, message: "the payload is not a JSON object")
                    }
                    guard let summary = report["summary"] else {
                        return .reject(.missingField, message: "field 'summary' is required")
                    }
                    guard summary.stringValue != nil else {
                        return .reject(.invalidValue, message: "field 'summary' must be a string")
                    }
                    return .accept(annotations: ["mission": "\(mission)"])
                }

                /// A person (`subject` "person"), or each member of a contingent (`subject` "contingent"), the items
                /// then naming the member: docs/abi.md, section 8.
                public func readiness(_ request: JSONValue) throws -> [UnmetRequirement] {
                    switch request["subject"]?.stringValue {
                    case "person":
                        guard let person = request["person"], person.objectValue != nil else {
                            throw ModuleError.invalidArgument("field 'person' is required")
                        }
                        return unmet(person)
                    case "contingent":
                        guard let members = request["contingent"]?["members"]?.arrayValue else {
                            throw ModuleError.invalidArgument("field 'contingent.members' is required")
                        }
                        return members.flatMap { member in
                            unmet(member).map { item in
                                var item = item
                                item.serviceNumber = member["serviceNumber"]?.stringValue
                                return item
                            }
                        }
                    default:
                        throw ModuleError.invalidArgument("field 'subject' must be person or contingent")
                    }
                }

                private func unmet(_ person: JSONValue) -> [UnmetRequirement] {
                    let trained = (person["qualifications"]?.arrayValue ?? []).contains { $0["code"]?.stringValue == "UN-CPTM" }
                    return trained ? [] : [UnmetRequirement(code: "TRAINING_MISSING", message: "UN-CPTM training is missing")]
                }

                public func run(command: String, arguments: JSONValue) throws -> JSONValue {
                    switch command {
                    case "describe": return ["mission": "\(mission)", "module": "\(id)"]
                    default: throw ModuleError.unsupported("unknown command '\\(command)'")
                    }
                }
            }

            @_cdecl("phub_plugin_entry_v1")
            public func peacehubEntry(_ hostMajor: UInt32, _ hostMinor: UInt32) -> UnsafeRawPointer? {
                PluginExport.entry(\(typeName)Module.self, hostMajor: hostMajor, hostMinor: hostMinor)
            }

            """
        let test = """
            import Foundation
            import PeaceHubCore
            import PeaceHubPluginKit
            import Testing
            @testable import \(typeName)

            @Suite struct \(typeName)Tests {
                let module = try! \(typeName)Module(context: .standalone(dataDirectory: URL(fileURLWithPath: ".")))

                func judge(_ payload: String) -> Verdict {
                    Array(payload.utf8).withUnsafeBytes { bytes in
                        module.judge(
                            Message(
                                topic: "missions/\(mission)/reports/PATROL", reportType: "PATROL", payload: bytes,
                                senderContingent: "KAZ", senderOperator: nil, securityLabel: "UN RESTRICTED",
                                precedence: .routine, qos: 1, receivedUnixNanoseconds: 0))
                    }
                }

                @Test func acceptsAReportWithASummary() {
                    #expect(judge(#"{"summary":"quiet night"}"#) == .accept(annotations: ["mission": "\(mission)"]))
                }

                @Test func rejectsAReportWithoutOne() {
                    #expect(judge("{}") == .reject(.missingField, message: "field 'summary' is required"))
                }

                @Test func readinessNamesMissingTraining() throws {
                    let unmet = try module.readiness(["subject": "person", "person": ["qualifications": []]])
                    #expect(unmet.map(\\.code) == ["TRAINING_MISSING"])
                }

                @Test func aContingentsUnmetItemsNameTheMember() throws {
                    let trained: JSONValue = ["serviceNumber": "A-1", "qualifications": [["code": "UN-CPTM"]]]
                    let untrained: JSONValue = ["serviceNumber": "A-2", "qualifications": []]
                    let request: JSONValue = ["subject": "contingent", "contingent": ["members": [trained, untrained]]]
                    #expect(try module.readiness(request).map(\\.serviceNumber) == ["A-2"])
                }
            }

            """
        let makefile = """
            # Build, describe and check the \(mission) mission module.
            #   make        build lib\(typeName).so and write its manifest \(id).plugin.json
            #   make test   swift test, then `peacehub plugins check`
            #   make CONFIG=release   the same with an optimized build, the one to ship
            PEACEHUB ?= \(peacehub)
            SWIFT ?= swift
            CONFIG ?= debug
            # Where SwiftPM puts this configuration's products (.build/<triple>/<config>), asked rather than assumed.
            LIB = $(shell $(SWIFT) build -c $(CONFIG) --show-bin-path)/lib\(typeName).so

            all:
            \t$(SWIFT) build -c $(CONFIG) --product \(typeName)
            \t$(PEACEHUB) plugins manifest $(LIB) --id \(id) --mission \(mission)

            test: all
            \t$(SWIFT) test
            \t$(PEACEHUB) plugins check $(LIB)

            clean:
            \trm -rf .build

            .PHONY: all test clean

            """
        return [
            ("Package.swift", package), ("Sources/\(typeName)/\(typeName)Module.swift", source),
            ("Tests/\(typeName)Tests/\(typeName)Tests.swift", test), ("Makefile", makefile),
            ("exports.map", Self.exportsMap), (".gitignore", ".build/\nPackage.resolved\n"),
        ]
    }
}
