import COpenSSL
import COpenSSLShim
import Foundation

/// Small helpers over OpenSSL's C API shared by the TLS and PKI code.
enum OpenSSL {
    /// Drains this thread's OpenSSL error queue into readable lines (OpenSSL's own reason strings), each with the
    /// text OpenSSL added to it when `withData` (a configuration file's `line 11`, a file name).
    static func drainErrors(withData: Bool = false) -> [String] {
        var lines: [String] = []
        while true {
            var data: UnsafePointer<CChar>?
            var flags: Int32 = 0
            let code = ERR_get_error_all(nil, nil, nil, &data, &flags)
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            // The reason alone reads best ("certificate verify failed"); a system error (the top bit) is errno's
            // text; the full line is the fallback.
            let systemError = code & (1 << 31) != 0 ? strerror(Int32(truncatingIfNeeded: code & 0x7FFF_FFFF)) : nil
            var line =
                ERR_reason_error_string(code).map { String(cString: $0) } ?? systemError.map { String(cString: $0) }
                ?? string(fromNulTerminated: buffer)
            if withData, flags & ERR_TXT_STRING != 0, let data, data.pointee != 0 {
                line += ", " + String(cString: data).trimmingCharacters(in: .whitespaces)
            }
            // OpenSSL raises some errors once per layer it passes ("no such file; no such file").
            if lines.last != line { lines.append(line) }
        }
        return lines
    }

    /// The error queue as one line, or `fallback` when it is empty.
    static func errorText(_ fallback: String, withData: Bool = false) -> String {
        let lines = drainErrors(withData: withData)
        return lines.isEmpty ? fallback : lines.joined(separator: "; ")
    }

    /// A PEM password callback that supplies none: an encrypted key fails to load instead of OpenSSL prompting on
    /// the terminal (which would hang a service).
    static let noPassword:
        @convention(c) (UnsafeMutablePointer<CChar>?, Int32, Int32, UnsafeMutableRawPointer?) -> Int32 = {
            _, _, _, _ in 0
        }

    /// X509_verify_cert_error_string for `result`.
    static func verifyErrorText(_ result: Int) -> String {
        String(cString: X509_verify_cert_error_string(result))
    }

    static func string(fromNulTerminated buffer: [CChar]) -> String {
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Takes a malloc'ed C string from the shim, frees it, and returns its text.
    static func take(_ pointer: UnsafeMutablePointer<CChar>?) -> String? {
        guard let pointer else { return nil }
        defer { free(pointer) }
        return String(cString: pointer)
    }

    /// Seconds since 1970 of an ASN1_TIME.
    static func date(_ time: UnsafePointer<ASN1_TIME>?) -> Date? {
        var seconds: Int64 = 0
        guard let time, phub_asn1_time_to_unix(time, &seconds) == 1 else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(seconds))
    }

    /// Runs `body` with a read-only memory BIO over `data`.
    static func withMemoryBIO<T>(_ data: Data, _ body: (OpaquePointer) throws -> T) throws -> T {
        try data.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else {
                throw TLSError(.invalidConfiguration, "out of memory")
            }
            defer { BIO_free(bio) }
            return try body(bio)
        }
    }

    /// Writes PEM through `body` into a memory BIO and returns the bytes.
    static func pem(_ body: (OpaquePointer) -> Int32) -> Data? {
        guard let bio = BIO_new(BIO_s_mem()) else { return nil }
        defer { BIO_free(bio) }
        guard body(bio) == 1 else { return nil }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = BIO_read(bio, &buffer, Int32(buffer.count))
            if count <= 0 { break }
            data.append(contentsOf: buffer[0..<Int(count)])
        }
        return data
    }
}

/// The OpenSSL the hub runs on, as its operators configure it: the system's openssl.cnf (or the file named by
/// `OPENSSL_CONF`) chooses the providers (FIPS, GOST) and the default properties (`fips=yes`) for every program.
public enum CryptoLibrary {
    /// OpenSSL's version text, e.g. `OpenSSL 3.0.19 27 Jan 2026`.
    public static var version: String { String(cString: OpenSSL_version(OPENSSL_VERSION)) }

    /// The names of the active providers, e.g. `["default"]` or `["fips", "base"]`.
    public static var activeProviders: [String] {
        (OpenSSL.take(phub_openssl_active_providers()) ?? "").split(separator: ", ").map(String.init)
    }

    /// Whether the default properties ask for FIPS-approved algorithms (`default_properties = fips=yes`).
    public static var fipsPropertiesEnabled: Bool { EVP_default_properties_is_fips_enabled(nil) == 1 }

    /// Refuses to go on when the configured library cannot do what the hub needs of it: its configuration file
    /// loaded whole (OpenSSL goes on with its defaults after an error in it, so a `fips=yes` the file asked for
    /// was lost without a word), SHA-256 (manifests, the audit chain, certificate ids) and a TLS context. An
    /// openssl.cnf that asks for `fips=yes` with no FIPS provider active, or activates a provider that lacks them,
    /// would otherwise fail later, one call at a time. Called before any other use of OpenSSL.
    public static func checkUsable() throws(CryptoLibraryError) {
        // OpenSSL reads a folder as an empty file: the providers and properties meant for the hub would be lost.
        var isFolder: ObjCBool = false
        if let named = ProcessInfo.processInfo.environment["OPENSSL_CONF"], !named.isEmpty,
            FileManager.default.fileExists(atPath: named, isDirectory: &isFolder), isFolder.boolValue
        {
            throw .configuration(file: named, reason: "a folder, not a file")
        }
        guard phub_openssl_load_configuration() == 1 else {
            throw .configuration(
                file: OpenSSL.take(phub_openssl_config_file()) ?? "openssl.cnf",
                reason: OpenSSL.errorText("cannot be loaded", withData: true))
        }
        guard let digest = EVP_MD_fetch(nil, "SHA256", nil) else {
            throw .missing(needed: "SHA-256", reason: OpenSSL.errorText("not offered"))
        }
        EVP_MD_free(digest)
        guard let context = SSL_CTX_new(TLS_method()) else {
            throw .missing(needed: "a TLS context", reason: OpenSSL.errorText("not offered"))
        }
        SSL_CTX_free(context)
    }
}

/// The system OpenSSL, as configured, lacks what the hub needs.
public enum CryptoLibraryError: Error, CustomStringConvertible {
    /// The configuration file has an error (OpenSSL's reason), or OPENSSL_CONF names a file that does not exist.
    case configuration(file: String, reason: String)
    /// The active providers and default properties do not offer `needed`.
    case missing(needed: String, reason: String)

    public var description: String {
        switch self {
        case .configuration(let file, let reason):
            return "OpenSSL cannot load its configuration \(file) (\(reason)): mend the file or the OPENSSL_CONF "
                + "that names it; OpenSSL would go on without it, and without the providers and properties it sets"
        case .missing(let needed, let reason):
            let properties = CryptoLibrary.fipsPropertiesEnabled ? "fips=yes" : "without fips=yes"
            return "OpenSSL cannot provide \(needed) (\(reason)) with its active providers "
                + "(\(CryptoLibrary.activeProviders.joined(separator: ", "))) and default properties (\(properties)): "
                + "check the providers and default_properties of the system's openssl.cnf or the file OPENSSL_CONF "
                + "names"
        }
    }
}
