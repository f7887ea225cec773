// Conversions between `SocketAddress` (numeric host + port) and the C socket address structures.

import CLibUV
import Glibc

extension SocketAddress {
    /// Reads an IPv4 or IPv6 socket address; nil for other families.
    init?(_ storage: UnsafePointer<sockaddr>) {
        var name = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        switch Int32(storage.pointee.sa_family) {
        case AF_INET:
            let port = storage.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                uv_ip4_name(sin, &name, name.count)
                return UInt16(bigEndian: sin.pointee.sin_port)
            }
            self.init(host: Self.string(name), port: Int(port))
        case AF_INET6:
            let port = storage.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                uv_ip6_name(sin6, &name, name.count)
                return UInt16(bigEndian: sin6.pointee.sin6_port)
            }
            self.init(host: Self.string(name), port: Int(port))
        default:
            return nil
        }
    }

    private static func string(_ chars: [CChar]) -> String {
        let bytes = chars.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Parses a numeric IPv4 or IPv6 host (brackets allowed for IPv6) into a C address; nil for names.
    static func numeric(host: String, port: Int) -> sockaddr_storage? {
        var storage = sockaddr_storage()
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        let ok = withUnsafeMutableBytes(of: &storage) { raw -> Bool in
            if uv_ip4_addr(bare, Int32(port), raw.baseAddress!.assumingMemoryBound(to: sockaddr_in.self)) == 0 {
                return true
            }
            return uv_ip6_addr(bare, Int32(port), raw.baseAddress!.assumingMemoryBound(to: sockaddr_in6.self)) == 0
        }
        return ok ? storage : nil
    }
}

/// The length of the address inside `storage`, for `bind`/`connect`.
func socketLength(of storage: sockaddr_storage) -> socklen_t {
    Int32(storage.ss_family) == AF_INET6
        ? socklen_t(MemoryLayout<sockaddr_in6>.size) : socklen_t(MemoryLayout<sockaddr_in>.size)
}

extension sockaddr_storage {
    /// Lends the storage as a `sockaddr` pointer.
    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>) -> R) -> R {
        withUnsafeBytes(of: self) { body($0.baseAddress!.assumingMemoryBound(to: sockaddr.self)) }
    }
}
