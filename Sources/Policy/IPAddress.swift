// IP addresses and CIDR blocks for `network.address` matching. IPv4 is kept as an IPv4-mapped IPv6
// address (RFC 4291 §2.5.5.2), so one 128-bit comparison serves both families and `::ffff:192.0.2.1`
// matches `192.0.2.0/24`. Parsing is strict and allocation-free: decimal octets without leading zeros
// (a leading zero means octal to some parsers), no zone ids, no ports.

/// A 128-bit IP address.
struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    var high: UInt64
    var low: UInt64

    /// The IPv4-mapped prefix `::ffff:0:0/96`.
    private static let mappedPrefix: UInt64 = 0xFFFF_0000_0000

    /// Parses an IPv4 or IPv6 address; nil when `text` is not exactly one.
    init?(_ text: String) {
        let parsed = text.utf8.withContiguousStorageIfAvailable { IPAddress.parse($0) }
        guard let address = parsed ?? Array(text.utf8).withUnsafeBufferPointer({ IPAddress.parse($0) }) else {
            return nil
        }
        self = address
    }

    init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    var isIPv4: Bool { high == 0 && low >> 32 == Self.mappedPrefix >> 32 }

    var description: String {
        if isIPv4 {
            let v4 = UInt32(truncatingIfNeeded: low)
            return "\(v4 >> 24).\((v4 >> 16) & 0xFF).\((v4 >> 8) & 0xFF).\(v4 & 0xFF)"
        }
        let groups = (0..<8).map { index -> String in
            let word = index < 4 ? high >> (48 - 16 * index) : low >> (48 - 16 * (index - 4))
            return String(UInt16(truncatingIfNeeded: word), radix: 16)
        }
        return groups.joined(separator: ":")
    }

    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> IPAddress? {
        if bytes.contains(UInt8(ascii: ":")) { return parseIPv6(bytes) }
        guard let v4 = parseIPv4(bytes[...]) else { return nil }
        return IPAddress(high: 0, low: mappedPrefix | UInt64(v4))
    }

    /// Four decimal octets, each 0...255 without leading zeros.
    static func parseIPv4(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> UInt32? {
        var result: UInt32 = 0
        var octets = 0
        var value: UInt32 = 0
        var digits = 0
        for byte in bytes {
            if byte >= 0x30 && byte <= 0x39 {
                if digits > 0 && value == 0 { return nil }  // leading zero
                value = value * 10 + UInt32(byte - 0x30)
                digits += 1
                if digits > 3 || value > 255 { return nil }
            } else if byte == UInt8(ascii: ".") {
                guard digits > 0, octets < 3 else { return nil }
                result = result << 8 | value
                octets += 1
                value = 0
                digits = 0
            } else {
                return nil
            }
        }
        guard digits > 0, octets == 3 else { return nil }
        return result << 8 | value
    }

    /// RFC 4291 §2.2 text forms: eight groups, one `::` gap at most, an optional dotted IPv4 tail.
    private static func parseIPv6(_ bytes: UnsafeBufferPointer<UInt8>) -> IPAddress? {
        withUnsafeTemporaryAllocation(of: UInt16.self, capacity: 8) { groups in
            var count = 0
            var gap = -1
            var index = 0
            let end = bytes.count
            if end >= 2 && bytes[0] == UInt8(ascii: ":") && bytes[1] == UInt8(ascii: ":") {
                gap = 0
                index = 2
            }
            while index < end {
                let start = index
                var value: UInt32 = 0
                while index < end, let digit = hexValue(bytes[index]) {
                    value = value << 4 | digit
                    index += 1
                    if index - start > 4 { return nil }
                }
                if index < end && bytes[index] == UInt8(ascii: ".") {
                    // Embedded IPv4 in the last 32 bits.
                    guard count <= 6, let v4 = parseIPv4(bytes[start..<end]) else { return nil }
                    groups[count] = UInt16(v4 >> 16)
                    groups[count + 1] = UInt16(truncatingIfNeeded: v4)
                    count += 2
                    break
                }
                guard index > start, count < 8 else { return nil }
                groups[count] = UInt16(value)
                count += 1
                if index == end { break }
                guard bytes[index] == UInt8(ascii: ":") else { return nil }
                index += 1
                if index < end && bytes[index] == UInt8(ascii: ":") {
                    guard gap < 0 else { return nil }
                    gap = count
                    index += 1
                } else if index == end {
                    return nil  // a single trailing colon
                }
            }
            return assemble(groups, count: count, gap: gap)
        }
    }

    private static func assemble(_ groups: UnsafeMutableBufferPointer<UInt16>, count: Int, gap: Int) -> IPAddress? {
        if gap < 0 && count != 8 { return nil }
        if gap >= 0 && count > 7 { return nil }
        var high: UInt64 = 0
        var low: UInt64 = 0
        let zeros = 8 - count
        for position in 0..<8 {
            let word: UInt16
            if gap < 0 || position < gap {
                word = groups[position]
            } else if position < gap + zeros {
                word = 0
            } else {
                word = groups[position - zeros]
            }
            if position < 4 { high = high << 16 | UInt64(word) } else { low = low << 16 | UInt64(word) }
        }
        return IPAddress(high: high, low: low)
    }

    private static func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case 0x30...0x39: UInt32(byte - 0x30)
        case 0x41...0x46: UInt32(byte - 0x41 + 10)
        case 0x61...0x66: UInt32(byte - 0x61 + 10)
        default: nil
        }
    }
}

/// A CIDR block such as `10.20.0.0/16` or `2001:db8::/32`.
struct CIDRBlock: Hashable, Sendable, CustomStringConvertible {
    var network: IPAddress
    /// The prefix length in IPv6 terms (an IPv4 `/24` is stored as `/120`).
    var prefixLength: Int
    private var maskHigh: UInt64
    private var maskLow: UInt64

    /// Parses `address/length`. A bare address is a single-host block. With `strict`, host bits
    /// after the prefix must be zero (a policy author who wrote `10.0.0.1/8` probably meant something else).
    init?(_ text: String, strict: Bool = false) {
        let parsed = text.utf8.withContiguousStorageIfAvailable { CIDRBlock.parse($0, strict: strict) }
        guard let block = parsed ?? Array(text.utf8).withUnsafeBufferPointer({ CIDRBlock.parse($0, strict: strict) })
        else { return nil }
        self = block
    }

    private init(network: IPAddress, prefixLength: Int, maskHigh: UInt64, maskLow: UInt64) {
        self.network = network
        self.prefixLength = prefixLength
        self.maskHigh = maskHigh
        self.maskLow = maskLow
    }

    /// Allocation-free parse (client registries' networks are parsed at decision time).
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>, strict: Bool) -> CIDRBlock? {
        let slash = bytes.firstIndex(of: UInt8(ascii: "/")) ?? bytes.count
        guard let address = IPAddress.parse(UnsafeBufferPointer(rebasing: bytes[..<slash])) else { return nil }
        let maxLength = address.isIPv4 ? 32 : 128
        var length = maxLength
        if slash < bytes.count {
            let digits = bytes[(slash + 1)...]
            guard !digits.isEmpty, digits.count <= 3, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  !(digits.count > 1 && digits.first == 0x30)
            else { return nil }
            length = digits.reduce(0) { $0 * 10 + Int($1 - 0x30) }
            guard length <= maxLength else { return nil }
        }
        let full = address.isIPv4 ? length + 96 : length
        let maskHigh: UInt64 = full >= 64 ? .max : (full == 0 ? 0 : .max << (64 - full))
        let maskLow: UInt64 = full <= 64 ? 0 : (full == 128 ? .max : .max << (128 - full))
        let network = IPAddress(high: address.high & maskHigh, low: address.low & maskLow)
        if strict && network != address { return nil }
        return CIDRBlock(network: network, prefixLength: full, maskHigh: maskHigh, maskLow: maskLow)
    }

    func contains(_ address: IPAddress) -> Bool {
        address.high & maskHigh == network.high && address.low & maskLow == network.low
    }

    var description: String {
        network.isIPv4 && prefixLength >= 96 ? "\(network)/\(prefixLength - 96)" : "\(network)/\(prefixLength)"
    }
}
