import CPeaceHubABI

/// The ABI this host speaks.
public enum HostABI {
    public static let major: UInt32 = PHUB_ABI_MAJOR
    public static let minor: UInt32 = PHUB_ABI_MINOR
    public static var versionString: String { "\(major).\(minor)" }
    /// The name and version the host reports to modules in `phub_host_t`.
    public static let hostName = "peacehub"
    public static let hostVersion = "0.1.0"
}

/// A header for a boundary struct written by this host.
func structHeader<T>(_: T.Type) -> (size: UInt32, major: UInt32, minor: UInt32) {
    (UInt32(MemoryLayout<T>.size), PHUB_ABI_MAJOR, PHUB_ABI_MINOR)
}
