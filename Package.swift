// swift-tools-version: 6.1
import Foundation
import PackageDescription

/// Mission modules: Swift dynamic libraries loaded by the host through the C ABI only. Each
/// links `PeaceHubPluginKit` statically and exports `phub_plugin_entry_v1` alone (a linker
/// version script; lld, because gold leaves local Swift symbols in `.dynsym`).
let missionModules: [(product: String, target: String, path: String)] = [
    ("PeaceHubExample", "ExampleModule", "Plugins/example-swift"),
    ("PeaceHubUNIFIL", "UNIFILModule", "Plugins/UNIFIL"),
    ("PeaceHubUNFICYP", "UNFICYPModule", "Plugins/UNFICYP"),
    ("PeaceHubUNMOGIP", "UNMOGIPModule", "Plugins/UNMOGIP"),
    ("PeaceHubMINURSO", "MINURSOModule", "Plugins/MINURSO"),
]

/// The message path (TLS records, MQTT packets, the broker) is built for release without run-time exclusivity
/// checks, as the standard library is: they cost the hub 10-14 % of its CPU per delivery (docs/performance.md,
/// item 11). Debug builds, which `make test` runs, keep the checks, so an overlapping access still traps in tests.
let messagePathSettings: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))
]

let package = Package(
    name: "PeaceHub",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "peacehub", targets: ["peacehub"]),
        .library(name: "PeaceHubPluginKit", targets: ["PeaceHubPluginKit"]),
    ] + missionModules.map { .library(name: $0.product, type: .dynamic, targets: [$0.target]) },
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // Tier 0: the C ABI, the system OpenSSL 3 and the domain core.
        .target(name: "CPeaceHubABI", path: "Sources/CPeaceHubABI"),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .target(name: "COpenSSLShim", dependencies: ["COpenSSL"]),
        .target(name: "PeaceHubCore"),

        // Tier 1: one module per concern.
        .target(
            name: "PeaceHubPlugins",
            dependencies: [
                "CPeaceHubABI", "COpenSSL", "PeaceHubCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        .target(name: "PeaceHubPluginKit", dependencies: ["CPeaceHubABI", "PeaceHubCore"]),
        .target(name: "MissionSupport", dependencies: ["PeaceHubCore", "PeaceHubPluginKit"]),
        .target(
            name: "PeaceHubTLS",
            dependencies: [
                "COpenSSL", "COpenSSLShim", "PeaceHubCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: messagePathSettings
        ),
        .target(
            name: "SQLiteSupport",
            dependencies: [
                .product(name: "GRDB", package: "GRDB.swift"), .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ]
        ),
        .target(
            name: "PeaceHubMQTT",
            dependencies: [
                "PeaceHubCore", "SQLiteSupport", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"), .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "HeapModule", package: "swift-collections"),
            ],
            swiftSettings: messagePathSettings
        ),
        // A child process for the broker store's crash test (killed with SIGKILL mid-stream).
        .executableTarget(name: "StoreCrashProbe", dependencies: ["PeaceHubMQTT"], path: "Tests/StoreCrashProbe"),
        .target(
            name: "PeaceHubRegistry",
            dependencies: [
                "COpenSSL", "PeaceHubCore", "SQLiteSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        .target(
            name: "PeaceHubHTTP",
            dependencies: [
                "PeaceHubCore", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),

        // Tier 2: the composition root.
        .target(
            name: "PeaceHubServer",
            dependencies: [
                "PeaceHubCore", "PeaceHubHTTP", "PeaceHubMQTT", "PeaceHubPlugins", "PeaceHubRegistry", "PeaceHubTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "DequeModule", package: "swift-collections"),
            ]
        ),

        // Tier 3: the command-line tool.
        // jemalloc in place of glibc's malloc, for the hub's process only (Sources/CAllocator/allocator.c).
        .target(name: "CAllocator", linkerSettings: [.linkedLibrary("jemalloc")]),
        .executableTarget(
            name: "peacehub",
            dependencies: [
                "CAllocator", "PeaceHubCore", "PeaceHubPlugins", "PeaceHubTLS", "PeaceHubRegistry", "PeaceHubMQTT",
                "PeaceHubServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),

        // The load generator of `make bench` (docs/performance.md): MQTT 3.1.1 and the NATS text protocol over our
        // TLS handler, against the hub and its peers.
        .executableTarget(
            name: "peacehub-bench",
            dependencies: [
                "PeaceHubCore", "PeaceHubPlugins", "PeaceHubTLS", "PeaceHubMQTT",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Sources/PeaceHubBench",
            exclude: ["valgrind-sigsuspend.c"]  // built by `make callgrind`, preloaded into the hub under valgrind
        ),

        // Test support shipped as a library (Hummingbird's HummingbirdTesting).
        .target(
            name: "PeaceHubTesting",
            dependencies: [
                "PeaceHubCore", .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"), .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["Fixtures"]
        ),

        .testTarget(name: "PeaceHubABITests", dependencies: ["CPeaceHubABI", "PeaceHubTesting"]),
        .testTarget(
            name: "PeaceHubPluginsTests",
            dependencies: ["PeaceHubPlugins", "PeaceHubTesting", "CPeaceHubABI"]
        ),
        .testTarget(
            name: "PeaceHubTLSTests",
            dependencies: [
                "PeaceHubTLS", "PeaceHubTesting", "COpenSSL", "COpenSSLShim",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "PeaceHubRegistryTests",
            dependencies: ["PeaceHubRegistry", "PeaceHubTesting", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .testTarget(name: "PeaceHubCLITests", dependencies: ["PeaceHubTesting"]),
        .testTarget(
            name: "PeaceHubServerTests",
            dependencies: [
                "PeaceHubServer", "PeaceHubCore", "PeaceHubHTTP", "PeaceHubMQTT", "PeaceHubPlugins", "PeaceHubRegistry",
                "PeaceHubTLS", "PeaceHubTesting", .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "PeaceHubHTTPTests",
            dependencies: [
                "PeaceHubHTTP", "PeaceHubCore", "PeaceHubTesting", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "PeaceHubMQTTTests",
            dependencies: [
                "PeaceHubMQTT", "PeaceHubTesting", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "MissionModulesTests",
            dependencies: ["PeaceHubPlugins", "PeaceHubTesting", "PeaceHubCore", "MissionSupport"]
        ),
    ] + missionModules.map {
        .target(
            name: $0.target, dependencies: ["PeaceHubPluginKit", "CPeaceHubABI", "PeaceHubCore", "MissionSupport"],
            path: $0.path,
            exclude: FileManager.default.fileExists(atPath: "\(Context.packageDirectory)/\($0.path)/data") ? ["data"] : [],
            linkerSettings: [
                .unsafeFlags([
                    "-use-ld=lld", "-Xlinker", "--version-script=\(Context.packageDirectory)/Plugins/exports.map",
                ])
            ]
        )
    },
    swiftLanguageModes: [.v6]
)
