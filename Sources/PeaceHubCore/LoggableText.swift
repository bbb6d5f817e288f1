/// Text from outside the hub (a module's message, a client's identifier) as it may go into a log line or an error:
/// control characters escaped (`\n`, `\u{1B}`), so that it can neither end the line and forge the next one nor
/// send a terminal escape sequence.
public func loggableText(_ text: String) -> String {
    guard text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else { return text }
    var escaped = ""
    for scalar in text.unicodeScalars {
        if scalar.properties.generalCategory == .control {
            escaped += scalar.escaped(asASCII: true)
        } else {
            escaped.unicodeScalars.append(scalar)
        }
    }
    return escaped
}
