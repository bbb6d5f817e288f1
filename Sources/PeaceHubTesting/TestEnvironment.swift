import Foundation

/// Where the things under test live: the package, the built binaries and the built modules.
///
/// `make test` builds everything first and sets `PEACEHUB_BIN_DIR` and `PEACEHUB_PLUGINS_DIR`;
/// without them the defaults below point into the package's own `.build` folder.
public enum TestEnvironment {
    /// The package's root folder (the one holding Package.swift).
    public static let packageRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()

    /// The folder holding the built `peacehub` executable.
    public static var binDirectory: URL {
        if let path = ProcessInfo.processInfo.environment["PEACEHUB_BIN_DIR"] {
            return URL(fileURLWithPath: path)
        }
        return packageRoot.appendingPathComponent(".build/debug")
    }

    /// The built `peacehub` executable.
    public static var peacehubExecutable: URL { binDirectory.appendingPathComponent("peacehub") }

    /// The folder `make plugins` fills with the built modules and their manifests.
    public static var pluginsDirectory: URL {
        if let path = ProcessInfo.processInfo.environment["PEACEHUB_PLUGINS_DIR"] {
            return URL(fileURLWithPath: path)
        }
        return packageRoot.appendingPathComponent(".build/plugins")
    }

    /// The folder `make plugins` fills with the example Swift module and the C template.
    public static var examplesDirectory: URL {
        if let path = ProcessInfo.processInfo.environment["PEACEHUB_EXAMPLES_DIR"] {
            return URL(fileURLWithPath: path)
        }
        return packageRoot.appendingPathComponent(".build/plugin-examples")
    }

    /// The C ABI headers' include folder.
    public static var abiIncludeDirectory: URL {
        packageRoot.appendingPathComponent("Sources/CPeaceHubABI/include")
    }
}

/// A TCP port free on 127.0.0.1 right now.
public func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    guard bound else { throw FixtureError("no free port") }
    return Int(UInt16(bigEndian: address.sin_port))
}
