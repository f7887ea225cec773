// Reads `limits.http2` (issue #3 item 2): the HTTP/2 protocol limits of HTTP2Limits plus the HTTP/2
// header-read and idle timeouts. Every value has a range; a value outside it is an error naming the key,
// because a limit the operator believes in but the gateway does not apply is worse than no setting.

import GatewayHTTP
import GatewayYAML

extension ConfigLoader {
    /// One bounded integer or size key of `limits.http2` and where it goes in ``HTTP2Limits``.
    struct HTTP2Key {
        let name: String
        let range: ClosedRange<Int>
        /// Written as a size (`32KiB`) rather than a count.
        let isSize: Bool
        let field: WritableKeyPath<HTTP2Limits, Int>
    }

    /// The keys, their ranges (RFC 9113 §6.5.2 caps the windows at 2^31-1) and their fields.
    static var http2Keys: [HTTP2Key] {
        [
            HTTP2Key(name: "max_concurrent_streams", range: 1...1000, isSize: false, field: \.maxConcurrentStreams),
            HTTP2Key(
                name: "max_header_list_size", range: 1024...(1 << 20), isSize: true, field: \.maxHeaderListBytes),
            HTTP2Key(name: "max_continuation_frames", range: 0...100, isSize: false, field: \.maxContinuationFrames),
            HTTP2Key(name: "max_resets_per_second", range: 1...10_000, isSize: false, field: \.maxResetsPerSecond),
            HTTP2Key(name: "max_settings_per_second", range: 1...1000, isSize: false, field: \.maxSettingsPerSecond),
            HTTP2Key(name: "max_pings_per_second", range: 1...1000, isSize: false, field: \.maxPingsPerSecond),
            HTTP2Key(
                name: "initial_window_size", range: 1024...Int(Int32.max), isSize: true,
                field: \.initialStreamWindowBytes),
            HTTP2Key(
                name: "connection_window_size", range: 65_535...Int(Int32.max), isSize: true,
                field: \.connectionWindowBytes),
            HTTP2Key(
                name: "max_buffered_body", range: (64 << 10)...(1 << 30), isSize: true,
                field: \.maxBufferedBodyBytes),
        ]
    }

    /// Reads `limits.http2` from the `limits` mapping; the timeouts default to the shared ones.
    /// - Returns: the section (nil when it has errors) and every problem found.
    static func readHTTP2(
        _ limits: YAMLNode, headerTimeoutMs: UInt64, idleTimeoutMs: UInt64
    ) -> (HTTP2Config?, [YAMLDecodingError]) {
        var config = HTTP2Config(limits: HTTP2Limits(), headerTimeoutMs: headerTimeoutMs, idleTimeoutMs: idleTimeoutMs)
        let node: YAMLNode
        do {
            guard let section = try limits.optional("http2") else { return (config, []) }
            node = section
        } catch {
            return (nil, [error])
        }
        guard node.mappingEntries != nil else { return (nil, [node.mismatch("a mapping of HTTP/2 limits")]) }
        var errors = node.unknownKeys(allowed: http2Keys.map(\.name) + ["header_timeout", "idle_timeout"])
        for key in http2Keys {
            do {
                if let value = try bounded(node, key) { config.limits[keyPath: key.field] = value }
            } catch {
                errors.append(error)
            }
        }
        for (key, field) in [("header_timeout", \HTTP2Config.headerTimeoutMs), ("idle_timeout", \.idleTimeoutMs)] {
            do {
                if let ms = try positiveMillis(node, key) { config[keyPath: field] = ms }
            } catch {
                errors.append(error)
            }
        }
        return errors.isEmpty ? (config, []) : (nil, errors)
    }

    private static func positiveMillis(_ node: YAMLNode, _ key: String) throws(YAMLDecodingError) -> UInt64? {
        guard let seconds = try node.optionalDuration(at: key) else { return nil }
        guard seconds > 0 else { throw YAMLDecodingError(at: node[key]!, "must be positive") }
        return UInt64(seconds * 1000)
    }

    private static func bounded(_ node: YAMLNode, _ key: HTTP2Key) throws(YAMLDecodingError) -> Int? {
        guard let child = try node.optional(key.name) else { return nil }
        let value = key.isSize ? try child.byteSize() : try child.int()
        guard key.range.contains(value) else {
            throw YAMLDecodingError(
                at: child, "must be between \(key.range.lowerBound) and \(key.range.upperBound)"
                    + (key.isSize ? " bytes" : ""))
        }
        return value
    }
}
