extension Int {
    /// `1st`, `2nd`, `3rd`, `4th`...: how an error names an entry of a list it refuses without showing it (a
    /// refused value may be a secret, and errors reach the log).
    public var ordinal: String {
        let suffix = (11...13).contains(self % 100) ? "th" : [1: "st", 2: "nd", 3: "rd"][self % 10, default: "th"]
        return "\(self)\(suffix)"
    }
}
