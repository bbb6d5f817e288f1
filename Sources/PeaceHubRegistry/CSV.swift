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
        /// The 0-based field the failure is in, when it is one field's (its text is not UTF-8).
        var field: Int? = nil
    }

    /// Reads records one at a time, so that a large file is never held as one array of rows.
    struct Reader {
        private let bytes: [UInt8]
        private var index = 0
        private var line = 1
        private var fields: [String] = []
        private var field: [UInt8] = []

        init(_ bytes: [UInt8]) {
            self.bytes = bytes
            // A UTF-8 byte order mark (spreadsheet exports) is not part of the first header.
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { index = 3 }
        }

        /// The next record, `nil` at the end; blank lines are skipped. After a failure the reader has skipped the
        /// rest of the broken line, so the caller can go on and report every broken line of a file, not the first.
        mutating func next() throws(Failure) -> Record? {
            while index < bytes.count {
                if let record = try readRecord() { return record }
            }
            return nil
        }

        /// Skips to the start of the next line, quotes or not: the line it is on could not be read.
        private mutating func skipLine() {
            while index < bytes.count {
                let byte = bytes[index]
                index += 1
                if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
                    if byte == UInt8(ascii: "\r") && index < bytes.count && bytes[index] == UInt8(ascii: "\n") {
                        index += 1
                    }
                    line += 1
                    return
                }
            }
        }

        /// Reads up to the end of one line (or of the file); `nil` for a blank line. An unquoted field is
        /// made from its bytes in place; only a quoted one is gathered (its `""` unescaped) in `field`.
        private mutating func readRecord() throws(Failure) -> Record? {
            let quote = UInt8(ascii: "\"")
            let comma = UInt8(ascii: ",")
            let lf = UInt8(ascii: "\n")
            let cr = UInt8(ascii: "\r")
            let recordLine = line
            var fieldStart = index
            var fieldStartLine = line
            var quoted = false
            var wasQuoted = false
            fields.removeAll(keepingCapacity: true)

            // Text is checked, not repaired: a byte that is not UTF-8 refuses the row rather than becoming U+FFFD.
            func endField(before end: Int, on endLine: Int) throws(Failure) {
                let text = wasQuoted ? Self.text(field[...]) : Self.text(bytes[fieldStart..<end])
                guard let text else {
                    // The line of the byte, in a quoted field that spans lines too.
                    let badLine = wasQuoted ? Self.lineOfInvalidUTF8(in: field, from: fieldStartLine) : endLine
                    throw Failure(
                        line: badLine, reason: "field \(fields.count + 1) is not valid UTF-8", field: fields.count)
                }
                fields.append(text)
                field.removeAll(keepingCapacity: true)
                wasQuoted = false
                fieldStart = end + 1
                fieldStartLine = line
            }

            do throws(Failure) {
                while index < bytes.count {
                    let byte = bytes[index]
                    index += 1
                    if quoted {
                        if byte == quote {
                            if index < bytes.count && bytes[index] == quote {
                                field.append(quote)
                                index += 1
                            } else {
                                quoted = false
                            }
                        } else {
                            // A CR alone ends a line too (old Mac files), so line numbers match an editor's.
                            if byte == lf || (byte == cr && (index == bytes.count || bytes[index] != lf)) { line += 1 }
                            field.append(byte)
                        }
                    } else if byte == comma {
                        try endField(before: index - 1, on: line)
                    } else if byte == lf || byte == cr {
                        let end = index - 1
                        let endLine = line
                        if byte == cr && index < bytes.count && bytes[index] == lf { index += 1 }
                        line += 1
                        try endField(before: end, on: endLine)
                        return record(startingOn: recordLine)
                    } else if byte == quote {
                        guard !wasQuoted && index - 1 == fieldStart else {
                            throw Failure(line: line, reason: "a quote inside an unquoted field")
                        }
                        quoted = true
                        wasQuoted = true
                    } else if wasQuoted {
                        throw Failure(line: line, reason: "text after a closing quote")
                    }
                }
            } catch {
                // Not at the line's end yet (a failure at a line end has passed it already).
                if index > 0 && bytes[index - 1] != lf && bytes[index - 1] != cr { skipLine() }
                field.removeAll(keepingCapacity: true)
                throw error
            }
            if quoted { throw Failure(line: recordLine, reason: "a quoted field is not closed") }
            try endField(before: index, on: line)
            return record(startingOn: recordLine)
        }

        /// `bytes` as a string, nil when they are not UTF-8. Most fields are ASCII, and those skip the standard
        /// library's validation, which this build runs through a generic, unspecialized path (7 % of an import's
        /// samples).
        private static func text(_ bytes: ArraySlice<UInt8>) -> String? {
            bytes.withUnsafeBufferPointer { buffer in
                buffer.allSatisfy { $0 < 0x80 }
                    ? String(decoding: buffer, as: UTF8.self) : String(validating: buffer, as: UTF8.self)
            }
        }

        /// The line of the first byte of `bytes` that is not UTF-8, counting line ends (LF, CRLF, a CR alone) from
        /// `line`.
        private static func lineOfInvalidUTF8(in bytes: [UInt8], from line: Int) -> Int {
            var decoder = UTF8()
            var iterator = bytes.makeIterator()
            var (line, afterCR) = (line, false)
            while case .scalarValue(let scalar) = decoder.decode(&iterator) {
                if scalar == "\r" || (scalar == "\n" && !afterCR) { line += 1 }
                afterCR = scalar == "\r"
            }
            return line
        }

        /// nil for a line with no text: a blank one, or only separators (`,,,,`, what a spreadsheet writes for a
        /// row it formatted and left empty).
        private func record(startingOn line: Int) -> Record? {
            fields.allSatisfy(\.isEmpty) ? nil : Record(line: line, fields: fields)
        }
    }

    /// One field, quoted when it holds a comma, a quote or a line break.
    /// By scalar, not by `Character`: `"\r\n"` is one Character, as is a comma or a quote followed by a combining
    /// mark, and none of them equals `","`, `"\""`, `"\n"` or `"\r"`, while the reader splits on their bytes.
    static func escape(_ field: String) -> String {
        let special: Set<Unicode.Scalar> = [",", "\"", "\n", "\r"]
        guard field.unicodeScalars.contains(where: special.contains) else { return field }
        var quoted = String.UnicodeScalarView()
        quoted.append("\"")
        for scalar in field.unicodeScalars {
            quoted.append(scalar)
            if scalar == "\"" { quoted.append("\"") }
        }
        quoted.append("\"")
        return String(quoted)
    }

    static func line(_ fields: [String]) -> String { fields.map(escape).joined(separator: ",") + "\n" }
}
