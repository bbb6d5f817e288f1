import PeaceHubCore

/// The fuzz tests' changes to valid input: each a byte replaced, a bit flipped, a byte inserted or removed, or
/// the rest cut off, anywhere; plus `lengthField`, a change of the format's own length field, where it has one.
/// Seeded, so that a failure replays exactly.
public struct Mutation: Sendable {
    /// Bytes the format gives a meaning to, chosen half the time for a replaced or inserted byte.
    public let meaningful: [UInt8]
    /// Rewrites the length field of `bytes`, if they are long enough to have one.
    public let lengthField: (@Sendable (inout [UInt8], inout SplitMix64) -> Void)?

    public init(
        meaningful: [UInt8] = [], lengthField: (@Sendable (inout [UInt8], inout SplitMix64) -> Void)? = nil
    ) {
        self.meaningful = meaningful
        self.lengthField = lengthField
    }

    /// One to four changes to `bytes`.
    public func apply(to bytes: [UInt8], using random: inout SplitMix64) -> [UInt8] {
        var bytes = bytes
        for _ in 0..<Int.random(in: 1...4, using: &random) {
            guard !bytes.isEmpty else { break }
            let index = Int.random(in: 0..<bytes.count, using: &random)
            let byte =
                !meaningful.isEmpty && Bool.random(using: &random)
                ? meaningful[Int.random(in: 0..<meaningful.count, using: &random)]
                : UInt8.random(in: 0...255, using: &random)
            switch Int.random(in: 0..<(lengthField == nil ? 5 : 6), using: &random) {
            case 0: bytes[index] = byte
            case 1: bytes[index] ^= 1 << UInt8.random(in: 0...7, using: &random)
            case 2: bytes.insert(byte, at: index)
            case 3: bytes.remove(at: index)
            case 4: bytes.removeSubrange(index...)
            default: lengthField?(&bytes, &random)
            }
        }
        return bytes
    }
}
