/// `host:port` as a URL writes it [RFC 3986 3.2.2]: an IPv6 address in brackets (`[::1]:8883`), so that the port
/// is told from the address.
public func authority(host: String, port: Int) -> String {
    host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
}
