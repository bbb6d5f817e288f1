import Foundation

/// The symbols a shared library exports, read from its ELF dynamic symbol table (`.dynsym`) without running it:
/// defined, global or weak, of default or protected visibility. What `nm -D --defined-only` lists, less the
/// symbols a version script's named node adds (absolute, value 0, size 0). ELF64 little-endian only, the hub's
/// platform; the table is found through the section headers.
enum ELFExports {
    struct Unreadable: Error, CustomStringConvertible {
        var description: String
    }

    static func names(ofLibraryAt path: String) throws(Unreadable) -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Unreadable(description: "cannot read \(path)")
        }
        let bytes = [UInt8](data)
        func integer<T: FixedWidthInteger>(_ offset: Int, as _: T.Type) throws(Unreadable) -> T {
            guard offset >= 0, offset + MemoryLayout<T>.size <= bytes.count else {
                throw Unreadable(description: "\(path) is cut short (an offset past its end)")
            }
            var value: T = 0
            for index in (0..<MemoryLayout<T>.size).reversed() { value = value << 8 | T(bytes[offset + index]) }
            return value
        }
        guard bytes.starts(with: [0x7F, 0x45, 0x4C, 0x46]), bytes.count > 0x40, bytes[4] == 2, bytes[5] == 1 else {
            throw Unreadable(description: "\(path) is not a 64-bit little-endian ELF file")
        }
        let sectionTable = Int(try integer(0x28, as: UInt64.self))
        let sectionSize = Int(try integer(0x3A, as: UInt16.self))
        let sectionCount = Int(try integer(0x3C, as: UInt16.self))
        func section(_ index: Int) throws(Unreadable) -> (type: UInt32, offset: Int, size: Int, link: Int) {
            let base = sectionTable + index * sectionSize
            return (
                try integer(base + 4, as: UInt32.self), Int(try integer(base + 24, as: UInt64.self)),
                Int(try integer(base + 32, as: UInt64.self)), Int(try integer(base + 40, as: UInt32.self))
            )
        }
        let dynamicSymbols: UInt32 = 11  // SHT_DYNSYM
        guard
            let symbols = try (0..<sectionCount).lazy.map({ index throws(Unreadable) in try section(index) })
                .first(where: { $0.type == dynamicSymbols })
        else { throw Unreadable(description: "\(path) has no dynamic symbol table") }
        let strings = try section(symbols.link)
        var names: [String] = []
        for base in stride(from: symbols.offset + 24, to: symbols.offset + symbols.size, by: 24) {  // 0 is null
            let info: UInt8 = try integer(base + 4, as: UInt8.self)
            let other: UInt8 = try integer(base + 5, as: UInt8.self)
            let sectionIndex: UInt16 = try integer(base + 6, as: UInt16.self)
            let binding = info >> 4  // 1 global, 2 weak, 10 unique
            let visibility = other & 3  // 0 default, 3 protected
            let value: UInt64 = try integer(base + 8, as: UInt64.self)
            let size: UInt64 = try integer(base + 16, as: UInt64.self)
            let versionNode = sectionIndex == 0xFFF1 && value == 0 && size == 0
            guard sectionIndex != 0, !versionNode, [1, 2, 10].contains(binding), [0, 3].contains(visibility)
            else { continue }
            let start = strings.offset + Int(try integer(base, as: UInt32.self))
            guard start < bytes.count, let end = bytes[start...].firstIndex(of: 0) else {
                throw Unreadable(description: "\(path) has a symbol name past its string table")
            }
            names.append(String(decoding: bytes[start..<end], as: UTF8.self))
        }
        return names
    }
}
