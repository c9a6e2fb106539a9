/// Writes commands in the Redis protocol (RESP arrays of bulk strings) into one buffer, so a
/// whole pipelined batch goes to hiredis in one call and one allocation.
struct RESPEncoder {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 4096) {
        bytes.reserveCapacity(capacity)
    }

    mutating func append(_ arguments: [String]) {
        appendHeader(count: arguments.count)
        for argument in arguments { appendBulk(argument) }
    }

    /// `*<count>` CRLF: an array of `count` bulk strings follows.
    mutating func appendHeader(count: Int) {
        bytes.append(UInt8(ascii: "*"))
        appendDecimal(count)
        appendCRLF()
    }

    /// One bulk string.
    mutating func appendBulk(_ text: String) {
        appendBulkHeader(length: text.utf8.count)
        appendRaw(text)
        appendCRLF()
    }

    /// `$<length>` CRLF: `length` bytes and a CRLF must follow.
    mutating func appendBulkHeader(length: Int) {
        bytes.append(UInt8(ascii: "$"))
        appendDecimal(length)
        appendCRLF()
    }

    mutating func appendRaw(_ text: String) {
        // Native strings hand out their UTF-8 contiguously: one memcpy instead of a byte loop.
        if text.utf8.withContiguousStorageIfAvailable({ bytes.append(contentsOf: $0) }) == nil {
            bytes.append(contentsOf: text.utf8)
        }
    }

    mutating func appendByte(_ byte: UInt8) {
        bytes.append(byte)
    }

    mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
    }

    mutating func appendCRLF() {
        bytes.append(13)
        bytes.append(10)
    }

    private mutating func appendDecimal(_ value: Int) {
        if value < 10 {
            bytes.append(UInt8(ascii: "0") + UInt8(value))
            return
        }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        var rest = value
        withUnsafeMutableBytes(of: &digits) { buffer in
            while rest > 0 {
                buffer[count] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
                count += 1
            }
            for index in stride(from: count - 1, through: 0, by: -1) {
                bytes.append(buffer[index])
            }
        }
    }
}
