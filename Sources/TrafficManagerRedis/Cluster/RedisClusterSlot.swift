/// Which of Redis Cluster's 16,384 hash slots a key belongs to: CRC16 (XMODEM: polynomial
/// 0x1021, initial value 0) of the key, or of its hash tag, modulo 16,384 — as the cluster
/// specification defines it.
///
/// The hash tag is what lies between the first `{` and the first `}` after it, when that is
/// not empty; route keys are `prefix{tenant|service|environment|version}`, so a route's keys
/// share one slot whatever the prefix.
enum RedisClusterSlot {
    /// The number of slots.
    static let count = 16_384

    /// The slot of `key`'s UTF-8 bytes.
    static func of(_ key: String) -> Int {
        var key = key
        return key.withUTF8 { of(UnsafeRawBufferPointer($0)) }
    }

    /// The slot of `key`.
    static func of(_ key: UnsafeRawBufferPointer) -> Int {
        var hashed = key
        if let open = key.firstIndex(of: UInt8(ascii: "{")),
            let close = key[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1
        {
            hashed = UnsafeRawBufferPointer(rebasing: key[(open + 1)..<close])
        }
        return Int(crc16(hashed)) & (count - 1)
    }

    /// CRC16-XMODEM of `bytes`.
    static func crc16(_ bytes: UnsafeRawBufferPointer) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc = (crc << 8) ^ table[Int((crc >> 8) ^ UInt16(byte)) & 0xff]
        }
        return crc
    }

    private static let table: [UInt16] = (0..<256).map { index in
        var crc = UInt16(index) << 8
        for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        return crc
    }
}
