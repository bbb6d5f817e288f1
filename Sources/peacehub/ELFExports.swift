import Foundation

/// The symbols a shared library exports, read from its ELF dynamic symbol table without running it: defined,
/// global or weak, of default or protected visibility. What `nm -D --defined-only` lists, less the symbols a
/// version script's named node adds (absolute, value 0, size 0). ELF64 little-endian only, the hub's platform.
/// The table is found as the dynamic loader finds it, through the program headers' dynamic segment, so a library
/// stripped of its section headers (`sstrip`), which still loads, is read too.
enum ELFExports {
    struct Unreadable: Error, CustomStringConvertible {
        var description: String
    }

    static func names(ofLibraryAt path: String) throws(Unreadable) -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Unreadable(description: "cannot read \(path)")
        }
        return try ELFImage(bytes: [UInt8](data), path: path).exportedNames()
    }
}

/// The parts of an ELF64 little-endian file the dynamic loader reads.
private struct ELFImage {
    let bytes: [UInt8]
    let path: String

    init(bytes: [UInt8], path: String) throws(ELFExports.Unreadable) {
        guard bytes.starts(with: [0x7F, 0x45, 0x4C, 0x46]), bytes.count > 0x40, bytes[4] == 2, bytes[5] == 1 else {
            throw ELFExports.Unreadable(description: "\(path) is not a 64-bit little-endian ELF file")
        }
        self.bytes = bytes
        self.path = path
    }

    func integer<T: FixedWidthInteger>(_ offset: Int, as _: T.Type) throws(ELFExports.Unreadable) -> T {
        guard offset >= 0, offset <= bytes.count - MemoryLayout<T>.size else {
            throw ELFExports.Unreadable(description: "\(path) is cut short (an offset past its end)")
        }
        var value: T = 0
        for index in (0..<MemoryLayout<T>.size).reversed() { value = value << 8 | T(bytes[offset + index]) }
        return value
    }

    /// One program header: its type, file offset, virtual address and size in the file.
    private struct Segment {
        var type: UInt32
        var offset: Int
        var address: UInt64
        var fileSize: Int
    }

    private func segments() throws(ELFExports.Unreadable) -> [Segment] {
        let table = Int(try integer(0x20, as: UInt64.self))
        let entrySize = Int(try integer(0x36, as: UInt16.self))
        let count = Int(try integer(0x38, as: UInt16.self))
        var segments: [Segment] = []
        for index in 0..<count {
            let base = table + index * entrySize
            segments.append(
                Segment(
                    type: try integer(base, as: UInt32.self),
                    offset: Int(clamping: try integer(base + 8, as: UInt64.self)),
                    address: try integer(base + 16, as: UInt64.self),
                    fileSize: Int(clamping: try integer(base + 32, as: UInt64.self))))
        }
        return segments
    }

    /// The file offset of a virtual address, through the loadable segment that holds it.
    private func fileOffset(of address: UInt64, in segments: [Segment]) throws(ELFExports.Unreadable) -> Int {
        let loadable: UInt32 = 1  // PT_LOAD
        for segment in segments where segment.type == loadable && address >= segment.address {
            let distance = address - segment.address
            if distance < UInt64(segment.fileSize) { return segment.offset + Int(distance) }
        }
        throw ELFExports.Unreadable(description: "\(path) has a dynamic table address in no loadable segment")
    }

    func exportedNames() throws(ELFExports.Unreadable) -> [String] {
        let segments = try segments()
        let dynamicType: UInt32 = 2  // PT_DYNAMIC
        guard let dynamic = segments.first(where: { $0.type == dynamicType }) else {
            throw ELFExports.Unreadable(description: "\(path) has no dynamic segment: it is no shared library")
        }
        var entries: [Int64: UInt64] = [:]
        for base in stride(from: dynamic.offset, to: dynamic.offset + dynamic.fileSize, by: 16) {
            let tag = try integer(base, as: Int64.self)
            if tag == 0 { break }  // DT_NULL
            if entries[tag] == nil { entries[tag] = try integer(base + 8, as: UInt64.self) }
        }
        let (hash, strtab, symtab, gnuHash): (Int64, Int64, Int64, Int64) = (4, 5, 6, 0x6fff_fef5)
        guard let symbolsAddress = entries[symtab], let stringsAddress = entries[strtab] else {
            throw ELFExports.Unreadable(description: "\(path) has no dynamic symbol table")
        }
        let symbols = try fileOffset(of: symbolsAddress, in: segments)
        let strings = try fileOffset(of: stringsAddress, in: segments)
        let count: Int
        if let address = entries[gnuHash] {
            count = try symbolCount(gnuHashAt: try fileOffset(of: address, in: segments))
        } else if let address = entries[hash] {
            count = Int(try integer(try fileOffset(of: address, in: segments) + 4, as: UInt32.self))  // nchain
        } else {
            throw ELFExports.Unreadable(description: "\(path) has no symbol hash table")
        }
        var names: [String] = []
        for index in 1..<max(count, 1) {  // 0 is the null symbol
            let base = symbols + index * 24
            let info = try integer(base + 4, as: UInt8.self)
            let other = try integer(base + 5, as: UInt8.self)
            let sectionIndex = try integer(base + 6, as: UInt16.self)
            let binding = info >> 4  // 1 global, 2 weak, 10 unique
            let visibility = other & 3  // 0 default, 3 protected
            let value = try integer(base + 8, as: UInt64.self)
            let size = try integer(base + 16, as: UInt64.self)
            let versionNode = sectionIndex == 0xFFF1 && value == 0 && size == 0
            guard sectionIndex != 0, !versionNode, [1, 2, 10].contains(binding), [0, 3].contains(visibility)
            else { continue }
            let start = strings + Int(try integer(base, as: UInt32.self))
            guard start < bytes.count, let end = bytes[start...].firstIndex(of: 0) else {
                throw ELFExports.Unreadable(description: "\(path) has a symbol name past its string table")
            }
            names.append(String(decoding: bytes[start..<end], as: UTF8.self))
        }
        return names
    }

    /// The number of dynamic symbols, from a GNU hash table (which, unlike the SysV one, does not state it): one
    /// past the last symbol of the longest-reaching chain.
    private func symbolCount(gnuHashAt table: Int) throws(ELFExports.Unreadable) -> Int {
        let bucketCount = Int(try integer(table, as: UInt32.self))
        let firstHashed = Int(try integer(table + 4, as: UInt32.self))
        let bloomWords = Int(try integer(table + 8, as: UInt32.self))
        let buckets = table + 16 + bloomWords * 8
        let chains = buckets + bucketCount * 4
        var last = 0
        for bucket in 0..<bucketCount { last = max(last, Int(try integer(buckets + bucket * 4, as: UInt32.self))) }
        guard last >= firstHashed else { return firstHashed }
        while try integer(chains + (last - firstHashed) * 4, as: UInt32.self) & 1 == 0 { last += 1 }
        return last + 1
    }
}
