import Foundation
import Synchronization
import TrafficManager

#if canImport(Glibc)
import Glibc
#endif

/// A TCP proxy on loopback that sits between an adapter and its server and misbehaves on
/// command: pass bytes through, freeze (hold every byte, keep every socket open — a network
/// path that stops), drop (reset every connection), or delay each chunk.
///
/// ```swift
/// let proxy = try FaultProxy(upstreamPort: 6379)
/// // point the adapter at 127.0.0.1:proxy.port
/// proxy.mode = .freeze
/// ```
///
/// For tests only: a thread per direction of each connection, polling every 20 ms.
public final class FaultProxy: Sendable {
    /// What the proxy does with the bytes.
    public enum Mode: Sendable, Equatable {
        /// Forward as they come.
        case pass
        /// Hold them; sockets stay open.
        case freeze
        /// Forward what the client sends, hold what the server answers: requests arrive and
        /// run, their replies are lost (a write that commits while its caller hears nothing).
        case freezeReplies
        /// Reset every connection (and each new one) at once.
        case drop
        /// Forward each chunk after this delay.
        case delay(Duration)
    }

    /// The port the proxy listens on, on 127.0.0.1.
    public let port: Int
    private let upstreamPort: Int
    private let listener: Int32
    private let state = Locked<(mode: Mode, links: [ObjectIdentifier: Link], closed: Bool)>((.pass, [:], false))

    /// One proxied connection: its two sockets, closed by the last of its two pump threads,
    /// so that no thread ever uses a descriptor number the system has handed out again.
    private final class Link: Sendable {
        let client: Int32
        let upstream: Int32
        let pumpsLeft = Locked(2)

        init(client: Int32, upstream: Int32) {
            self.client = client
            self.upstream = upstream
        }

        /// Wakes both pumps; with `reset`, the sockets send RST when they close.
        func stop(reset: Bool) {
            if reset {
                for socket in [client, upstream] { FaultProxy.setLingerZero(socket) }
            }
            shutdown(client, Int32(SHUT_RDWR))
            shutdown(upstream, Int32(SHUT_RDWR))
        }

        func pumpFinished() {
            let last = pumpsLeft.withLock { left -> Bool in
                left -= 1
                return left == 0
            }
            if last {
                Glibc.close(client)
                Glibc.close(upstream)
            }
        }
    }

    /// Starts a proxy to `127.0.0.1:upstreamPort`.
    public init(upstreamPort: Int) throws {
        self.upstreamPort = upstreamPort
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw ProxyError(text: "socket: \(errno)") }
        var yes: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 64) == 0 else { throw ProxyError(text: "bind/listen: \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        self.listener = listener
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "tm-fault-proxy"
        thread.start()
    }

    /// What the proxy does now; a change applies to open connections at once.
    public var mode: Mode {
        get { state.withLock { $0.mode } }
        set {
            let reset = state.withLock { state -> [Link] in
                state.mode = newValue
                return newValue == .drop ? Array(state.links.values) : []
            }
            for link in reset { link.stop(reset: true) }
        }
    }

    /// Stops listening and resets every connection.
    public func close() {
        let links = state.withLock { state -> [Link] in
            state.closed = true
            return Array(state.links.values)
        }
        // The accept thread closes the listener once it sees it shut down.
        shutdown(listener, Int32(SHUT_RDWR))
        for link in links { link.stop(reset: true) }
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if state.withLock({ $0.closed }) { break }
                continue
            }
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = Self.loopback(port: upstreamPort)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            let link = Link(client: client, upstream: upstream)
            let accepted = state.withLock { state -> Bool in
                guard connected == 0, !state.closed, state.mode != .drop else { return false }
                state.links[ObjectIdentifier(link)] = link
                return true
            }
            guard accepted else {
                Self.setLingerZero(client)
                Glibc.close(client)
                Glibc.close(upstream)
                continue
            }
            for (from, to, towardServer) in [(client, upstream, true), (upstream, client, false)] {
                let pump = Thread { [self] in
                    self.pump(from: from, to: to, towardServer: towardServer)
                    link.stop(reset: state.withLock { $0.mode == .drop })
                    state.withLock { _ = $0.links.removeValue(forKey: ObjectIdentifier(link)) }
                    link.pumpFinished()
                }
                pump.name = "tm-fault-proxy-pump"
                pump.start()
            }
        }
        Glibc.close(listener)
    }

    /// Copies bytes from one socket to the other, as the mode says, until either side closes.
    private func pump(from: Int32, to: Int32, towardServer: Bool) {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var descriptor = pollfd(fd: from, events: Int16(POLLIN), revents: 0)
        let holds = { (mode: Mode) in mode == .freeze || (mode == .freezeReplies && !towardServer) }
        while true {
            let mode = state.withLock { $0.mode }
            if mode == .drop { return }
            if holds(mode) {
                usleep(20_000)
                continue
            }
            guard poll(&descriptor, 1, 20) >= 0 else { return }
            guard descriptor.revents != 0 else { continue }
            // The mode may have changed while polling: a frozen path must not let this through.
            if holds(state.withLock({ $0.mode })) { continue }
            let count = read(from, &buffer, buffer.count)
            if count <= 0 { return }
            if case .delay(let delay) = mode { usleep(UInt32(max(0, delay.wholeMicroseconds))) }
            var sent = 0
            while sent < count {
                let written = buffer.withUnsafeBytes { send(to, $0.baseAddress! + sent, count - sent, Int32(MSG_NOSIGNAL)) }
                if written <= 0 { return }
                sent += written
            }
        }
    }

    fileprivate static func setLingerZero(_ socket: Int32) {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(socket, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    private struct ProxyError: Error, CustomStringConvertible {
        let text: String
        var description: String { "fault proxy: \(text)" }
    }
}
