import Foundation

/// Where the hub keeps its files unless configuration says otherwise.
///
/// Everything lives under one data directory: `$PEACEHUB_DATA_DIRECTORY` (or the older `$PEACEHUB_DATA_DIR`), or
/// `var/` in the current directory (what `make run` uses from a checkout; a packaged install sets the variable,
/// e.g. to `/var/lib/peacehub`). The names and their precedence are those of `serve`'s configuration.
public struct HubPaths: Sendable {
    public var dataDirectory: URL

    public init(dataDirectory: URL) {
        self.dataDirectory = dataDirectory
    }

    /// The paths from the environment: `PEACEHUB_DATA_DIRECTORY`, else `PEACEHUB_DATA_DIR`, else `./var`.
    public static var fromEnvironment: HubPaths {
        let environment = ProcessInfo.processInfo.environment
        let path = environment["PEACEHUB_DATA_DIRECTORY"] ?? environment["PEACEHUB_DATA_DIR"] ?? "var"
        return HubPaths(dataDirectory: URL(fileURLWithPath: path).standardizedFileURL)
    }

    /// The PKI: CA, server and client certificates, keys and CRL.
    public var pkiDirectory: URL { dataDirectory.appendingPathComponent("pki") }

    /// The CRL numbers and revocations the hub has loaded (`RevocationRecord`), which no later CRL may take back.
    public var crlRecordFile: URL { dataDirectory.appendingPathComponent("crl-numbers.json") }

    /// The registry's SQLite database.
    public var registryDatabase: URL { dataDirectory.appendingPathComponent("registry.sqlite") }

    /// The mission modules: libraries, manifests and data folders (`make plugins` fills it).
    public var pluginsDirectory: URL {
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["PEACEHUB_PLUGINS_DIRECTORY"] ?? environment["PEACEHUB_PLUGINS_DIR"] {
            return URL(fileURLWithPath: path).standardizedFileURL
        }
        return dataDirectory.appendingPathComponent("plugins")
    }
}
