// The transport's metric series, created once so that updates are a single atomic operation.

import GatewayCore

enum IOMetrics {
    static let openConnections = MetricsRegistry.shared.gauge(
        "gateway_open_connections", help: "Client connections currently open (plain TCP and TLS).")
    static let handshakeFailures = MetricsRegistry.shared.counter(
        "gateway_tls_handshake_failures_total", help: "TLS handshakes that failed or timed out.")
    static let handshakesTLS12 = handshakes("TLSv1.2")
    static let handshakesTLS13 = handshakes("TLSv1.3")

    private static func handshakes(_ version: String) -> Counter {
        MetricsRegistry.shared.counter(
            "gateway_tls_handshakes_total", help: "Completed TLS handshakes by protocol version.",
            labels: [("version", version)])
    }

    /// The completed-handshake counter for `version` (`TLSv1.2`, `TLSv1.3`, anything else counted as is).
    static func handshakes(version: String) -> Counter {
        switch version {
        case "TLSv1.3": handshakesTLS13
        case "TLSv1.2": handshakesTLS12
        default: handshakes(version)
        }
    }
}
