/// RFC 4180 CSV: comma-separated, `"`-quoted fields with `""` for a quote, CRLF or LF line ends.
enum CSV {
    struct Record {
        /// The 1-based line the record starts on (a quoted field may span lines).
        var line: Int
        var fields: [String]
    }

    struct Failure: Error {
        var line: Int
        var reason: String
    }

    static func parse(_ bytes: [UInt8]) throws(Failure) -> [Record] {
        var records: [Record] = []
        var fields: [String] = []
        var field: [UInt8] = []
        var line = 1
        var recordLine = 1
        var index = 0
        var quoted = false
        var fieldStarted = false
        var closed = false
        let quote = UInt8(ascii: "\"")
        let comma = UInt8(ascii: ",")
        let lf = UInt8(ascii: "\n")
        let cr = UInt8(ascii: "\r")
        // A UTF-8 byte order mark (spreadsheet exports) is not part of the first header.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { index = 3 }

        func endField() {
            fields.append(String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
            fieldStarted = false
            closed = false
        }
        func endRecord() {
            endField()
            if !(fields.count == 1 && fields[0].isEmpty) { records.append(Record(line: recordLine, fields: fields)) }
            fields.removeAll(keepingCapacity: true)
        }

        while index < bytes.count {
            let byte = bytes[index]
            if quoted {
                if byte == quote {
                    if index + 1 < bytes.count && bytes[index + 1] == quote {
                        field.append(quote)
                        index += 1
                    } else {
                        quoted = false
                        closed = true
                    }
                } else {
                    if byte == lf { line += 1 }
                    field.append(byte)
                }
            } else if byte == quote {
                guard !fieldStarted && field.isEmpty && !closed else {
                    throw Failure(line: line, reason: "a quote inside an unquoted field")
                }
                quoted = true
                fieldStarted = true
            } else if byte == comma {
                endField()
            } else if byte == lf || byte == cr {
                if byte == cr && index + 1 < bytes.count && bytes[index + 1] == lf { index += 1 }
                endRecord()
                line += 1
                recordLine = line
            } else {
                if closed { throw Failure(line: line, reason: "text after a closing quote") }
                field.append(byte)
            }
            index += 1
        }
        if quoted { throw Failure(line: recordLine, reason: "a quoted field is not closed") }
        if !field.isEmpty || !fields.isEmpty || fieldStarted { endRecord() }
        return records
    }

    /// One field, quoted when it holds a comma, a quote or a line break.
    static func escape(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func line(_ fields: [String]) -> String { fields.map(escape).joined(separator: ",") + "\n" }
}
