// Starts and stops audit shipping with the runtime (issue #7 §3): when `audit.repository_url` is set, an
// `AuditShipper` reads the durable chain after its cursor and sends it to the repository through
// `HTTPAuditTransport`. Shipping never blocks requests: appends only wait for the local fsync.

import Audit
import GatewayCore
import GatewayIO

/// The running shipper and its transport.
final class AuditShipping: Sendable {
    let shipper: AuditShipper
    let transport: HTTPAuditTransport

    /// Starts shipping `sink`'s records to `config.repositoryURL`; nil when no repository is configured.
    /// TODO(#7): a reload checks the shipping keys but does not restart the shipper with changed ones.
    /// - Throws: when the URL is not usable (a configuration error: the gateway refuses to start).
    static func start(
        config: AuditConfig, sink: AuditFileSink, loop: EventLoop, logger: Logger
    ) throws -> AuditShipping? {
        guard let url = config.repositoryURL, !url.isEmpty else { return nil }
        let shipping = config.shipping
        let transport = try HTTPAuditTransport(
            url: url, caFile: shipping.caFile, authorization: shipping.authorization, loop: loop)
        let shipper = AuditShipper(
            sink: sink, transport: transport, batchSize: shipping.batchSize,
            initialBackoff: shipping.initialBackoffSeconds, maxBackoff: shipping.maxBackoffSeconds, logger: logger)
        shipper.start()
        logger.info("audit shipping started", metadata: ["audit.repository_url": url])
        return AuditShipping(shipper: shipper, transport: transport)
    }

    private init(shipper: AuditShipper, transport: HTTPAuditTransport) {
        self.shipper = shipper
        self.transport = transport
    }

    /// Stops the shipper (after its POST in flight) and closes the transport's connections; records not
    /// yet shipped stay in the spool for the next start.
    func stop() {
        shipper.stop()
        transport.close()
    }
}
