/// PeaceHub's version: what `peacehub --version` prints and `$SYS/broker/version` tells operators.
public enum ProductVersion {
    public static let current = "0.1.0"
}
