import ArgumentParser
import Foundation
import PeaceHubCore

/// A one-line error for the person at the terminal; exits non-zero without a backtrace.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Prints rows as aligned columns, with control characters escaped: a cell's text may come from a partner's file.
func printTable(headers: [String], rows: [[String]]) {
    let rows = rows.map { $0.map(loggableText) }
    let widths = headers.indices.map { column in
        ([headers[column]] + rows.map { $0[column] }).map(\.count).max() ?? 0
    }
    func line(_ cells: [String]) -> String {
        zip(cells, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
            .trimmingCharacters(in: .whitespaces)
    }
    print(line(headers))
    for row in rows { print(line(row)) }
}
