/// Text from outside the hub (a module's message, a client's identifier) as it may go into a log line or an error:
/// control characters escaped (`\n`, `\u{1B}`), so that it can neither end the line and forge the next one nor
/// send a terminal escape sequence; so are the line and paragraph separators (U+2028, U+2029: a line end to
/// Unicode-aware viewers) and the bidirectional embeddings, overrides and isolates (U+202E reversed what followed it
/// on screen).
public func loggableText(_ text: String) -> String {
    // Printable ASCII, what nearly every line holds, needs no look-up of a scalar's category.
    if text.utf8.allSatisfy({ 0x20..<0x7F ~= $0 }) { return text }
    guard text.unicodeScalars.contains(where: isEscapedInLogs) else { return text }
    var escaped = ""
    for scalar in text.unicodeScalars {
        if isEscapedInLogs(scalar) {
            escaped += scalar.escaped(asASCII: true)
        } else {
            escaped.unicodeScalars.append(scalar)
        }
    }
    return escaped
}

private func isEscapedInLogs(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.value {
    // Not the marks (U+200E, U+200F, U+061C): right-to-left text needs them, and they reorder nothing around them.
    case 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069: true
    default: scalar.isControl
    }
}
