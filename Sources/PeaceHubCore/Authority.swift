#if canImport(Glibc)
import Glibc
#endif

/// `host:port` as a URL writes it [RFC 3986 3.2.2]: an IPv6 address in brackets (`[::1]:8883`), so that the port
/// is told from the address.
public func authority(host: String, port: Int) -> String {
    host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
}

/// The bytes of an IPv4 (4) or IPv6 (16) address written numerically, or nil for anything else (a host name, an
/// address with a zone): what a certificate's IP SAN holds, and how a host is told from an address.
public func ipAddressBytes(_ text: String) -> [UInt8]? {
    var v4 = in_addr()
    if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
    var v6 = in6_addr()
    if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
    return nil
}
