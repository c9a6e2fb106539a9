#if canImport(Glibc)
import Glibc
#endif

/// An integer socket option as the kernel holds it (`getsockopt`), or -1 when it cannot be
/// read: for tests that check keepalives and user timeouts reached a connection's socket.
public func socketOption(_ socket: Int32, level: Int32, name: Int32) -> Int32 {
    var value: Int32 = -1
    var length = socklen_t(MemoryLayout<Int32>.size)
    guard getsockopt(socket, level, name, &value, &length) == 0 else { return -1 }
    return value
}
