import Foundation
import PeaceHubCore

/// The manifest beside a module's library, `<id>.plugin.json`, read before `dlopen` so that an
/// incompatible or altered library is refused without running any of its code.
public struct PluginManifest: Sendable, Hashable, Codable {
    /// The module's id, as in its table (`org.peacehub.unifil`).
    public var id: String
    /// The mission code (`UNIFIL`).
    public var mission: String
    public var abiMajor: UInt32
    public var abiMinor: UInt32
    /// The library's file name, in the manifest's folder.
    public var library: String
    /// The library's SHA-256, lower-case hex.
    public var sha256: String
    /// The module's data folder, relative to the manifest's folder; the manifest's folder when absent.
    public var data: String?

    public init(
        id: String, mission: String, abiMajor: UInt32, abiMinor: UInt32, library: String, sha256: String,
        data: String? = nil
    ) {
        self.id = id
        self.mission = mission
        self.abiMajor = abiMajor
        self.abiMinor = abiMinor
        self.library = library
        self.sha256 = sha256
        self.data = data
    }

    /// The SHA-256 of a library file as the manifest records it (lower-case hex), or `nil`
    /// when the file cannot be read.
    public static func checksum(ofLibraryAt path: String) -> String? {
        FileDigest.sha256Hex(ofFileAt: path)
    }

    /// The file name suffix of manifests.
    public static let fileSuffix = ".plugin.json"

    private static let knownKeys: Set<String> = ["id", "mission", "abiMajor", "abiMinor", "library", "sha256", "data"]

    /// Reads and checks the manifest at `url`; the error's reason names the key at fault.
    public static func read(from url: URL) throws(PluginLoadError) -> PluginManifest {
        let file = url.path
        func invalid(_ reason: String) -> PluginLoadError { PluginLoadError(.manifestInvalid, file: file, reason: reason) }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw invalid(FileManager.default.fileExists(atPath: file) ? "cannot read the manifest" : "no manifest file")
        }
        // Strict JSON first: a member name given twice has no meaning readers agree on (Foundation kept the
        // first, Python the last), and I-JSON (RFC 7493) refuses it.
        do { _ = try JSONValue(parsing: data) } catch { throw invalid("the manifest is not valid JSON: \(error)") }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw invalid("the manifest is not a JSON object")
        }
        if let unknown = Set(object.keys).subtracting(knownKeys).sorted().first {
            throw invalid("unknown key '\(unknown)'")
        }
        // The decoder names no key for a number out of UInt32's range or with a fraction ("not valid JSON").
        for key in ["abiMajor", "abiMinor"] {
            if let number = object[key] as? NSNumber, UInt32(exactly: number.doubleValue) == nil {
                throw invalid("key '\(key)' must be a non-negative integer below 2^32, not \(number)")
            }
        }
        let manifest: PluginManifest
        do { manifest = try JSONDecoder().decode(PluginManifest.self, from: data) } catch let error as DecodingError {
            throw invalid(Self.describe(error))
        } catch {
            throw invalid("\(error)")
        }
        try manifest.validate(file: file)
        return manifest
    }

    private func validate(file: String) throws(PluginLoadError) {
        func invalid(_ reason: String) -> PluginLoadError {
            PluginLoadError(.manifestInvalid, file: file, moduleABI: "\(abiMajor).\(abiMinor)", reason: reason)
        }
        if let problem = Self.idProblem(id) { throw invalid("key 'id' \(problem)") }
        if let problem = Self.missionProblem(mission) { throw invalid("key 'mission' \(problem)") }
        guard !library.isEmpty, !library.contains("/"), library != ".", library != ".." else {
            throw invalid("key 'library' must be a file name in the manifest's folder")
        }
        guard sha256.count == 64, sha256.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else {
            throw invalid("key 'sha256' must be 64 lower-case hex digits")
        }
        if let data, data.isEmpty || data.hasPrefix("/") || data.split(separator: "/").contains("..") {
            throw invalid("key 'data' must be a relative folder inside the manifest's folder")
        }
    }

    /// What is wrong with a module id, or nil: `plugins new` and `plugins manifest` ask before they write one.
    public static func idProblem(_ id: String) -> String? {
        guard !id.isEmpty, id.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || "._-".contains($0)) })
        else { return "must be lower-case letters, digits, '.', '_' or '-'" }
        return nil
    }

    /// What is wrong with a mission code, or nil (docs/abi.md: upper-case letters and digits, up to 16).
    public static func missionProblem(_ mission: String) -> String? {
        guard !mission.isEmpty, mission.count <= 16,
            mission.allSatisfy({ $0.isASCII && ($0.isUppercase || $0.isNumber) })
        else { return "must be an upper-case mission code of up to 16 letters and digits" }
        return nil
    }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, _): "missing key '\(key.stringValue)'"
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            "key '\(context.codingPath.map(\.stringValue).joined(separator: "."))' must be \(type == String.self ? "a string" : "a non-negative integer")"
        case .dataCorrupted(let context):
            "key '\(context.codingPath.map(\.stringValue).joined(separator: "."))': \(context.debugDescription)"
        @unknown default: "\(error)"
        }
    }
}
