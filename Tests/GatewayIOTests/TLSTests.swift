import GatewayTesting
import Dispatch
import Foundation
import GatewayCore
import Testing
@testable import GatewayIO

@Suite("TLS") struct TLSTests {
    let pki: TestPKI

    init() throws {
        pki = try TestPKI.make()
    }

    private func serverContext(alpn: [String] = ["h2", "http/1.1"]) throws -> TLSServerContext {
        try TLSServerContext(certificateChainFile: pki.serverCertificate, privateKeyFile: pki.serverKey, alpn: alpn)
    }

    @Test("TLS echo works over TLS 1.2 and 1.3, with server-preferred ALPN and the SNI seen by the server",
          arguments: [TLSVersion.tls12, .tls13])
    func echo(version: TLSVersion) async throws {
        defer { pki.remove() }
        let group = EventLoopGroup(count: 2)
        defer { group.shutdown() }
        let (listener, serverInfo) = try tlsEchoServer(group, context: try serverContext())
        let client = try TLSClientContext(
            caFile: pki.caCertificate, alpn: ["http/1.1", "h2"], maximumVersion: version)
        let before = IOMetrics.handshakes(version: version == .tls12 ? "TLSv1.2" : "TLSv1.3").current

        let payload = (0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let outcome = await exchange(
            on: group.next(), port: listener.port, tls: client, serverName: "localhost", payload: payload)
        #expect(outcome.error == nil)
        #expect(outcome.received == payload)
        let expectedVersion = version == .tls12 ? "TLSv1.2" : "TLSv1.3"
        #expect(outcome.tlsInfo?.protocolVersion == expectedVersion)
        #expect(outcome.tlsInfo?.alpn == "h2")  // the server's order wins over the client's
        #expect(outcome.tlsInfo?.peerSubject == "CN=localhost")

        let seen = await serverInfo.wait()
        #expect(seen?.serverName == "localhost")
        #expect(seen?.alpn == "h2")
        #expect(seen?.protocolVersion == expectedVersion)
        #expect(seen?.peerSubject == nil)  // no client certificate
        #expect(IOMetrics.handshakes(version: expectedVersion).current > before)
    }

    @Test("an IP address is verified against the IP SAN and sent without SNI (RFC 6066 §3)")
    func ipAddressName() async throws {
        defer { pki.remove() }
        let group = EventLoopGroup(count: 1)
        defer { group.shutdown() }
        let (listener, serverInfo) = try tlsEchoServer(group, context: try serverContext())
        let client = try TLSClientContext(caFile: pki.caCertificate)
        let outcome = await exchange(on: group.loops[0], port: listener.port, tls: client, payload: [1, 2, 3])
        #expect(outcome.error == nil)
        #expect(outcome.received == [1, 2, 3])
        #expect(outcome.tlsInfo?.alpn == "http/1.1")
        #expect(await serverInfo.wait()?.serverName == nil)
    }

    @Test("a server signed by an unknown CA fails the client handshake and counts as a failure")
    func wrongCA() async throws {
        defer { pki.remove() }
        let other = try TestPKI.make(caName: "Some Other CA")
        defer { other.remove() }
        let group = EventLoopGroup(count: 1)
        defer { group.shutdown() }
        let (listener, _) = try tlsEchoServer(group, context: try serverContext())
        let client = try TLSClientContext(caFile: other.caCertificate)
        let failuresBefore = IOMetrics.handshakeFailures.current

        let outcome = await exchange(
            on: group.loops[0], port: listener.port, tls: client, serverName: "localhost", payload: [1])
        #expect(outcome.error?.contains("certificate verify failed") == true)
        #expect(outcome.received.isEmpty)
        #expect(IOMetrics.handshakeFailures.current > failuresBefore)
    }

    @Test("a certificate for another host name is rejected (RFC 6125)")
    func wrongHostName() async throws {
        defer { pki.remove() }
        let group = EventLoopGroup(count: 1)
        defer { group.shutdown() }
        let (listener, _) = try tlsEchoServer(group, context: try serverContext())
        let client = try TLSClientContext(caFile: pki.caCertificate)
        let outcome = await exchange(
            on: group.loops[0], port: listener.port, tls: client, serverName: "fhir.example.org", payload: [1])
        #expect(outcome.error?.contains("certificate verify failed") == true)
    }

    @Test("garbage instead of a ClientHello closes that connection; the listener keeps serving")
    func garbageClientHello() async throws {
        defer { pki.remove() }
        let group = EventLoopGroup(count: 1)
        defer { group.shutdown() }
        let (listener, _) = try tlsEchoServer(group, context: try serverContext())
        let failuresBefore = IOMetrics.handshakeFailures.current

        let closed = TestSignal<String>()
        let loop = group.loops[0]
        loop.execute {
            TCPConnector.connect(on: loop, host: "127.0.0.1", port: listener.port) { result in
                guard case .success(let stream) = result else { return closed.fulfill("connect failed") }
                stream.delegate = Collector(expected: Int.max, closed: closed)
                stream.write(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8) + [UInt8](repeating: 0xFF, count: 4096))
            }
        }
        #expect(await closed.wait() != nil)
        #expect(IOMetrics.handshakeFailures.current > failuresBefore)

        let client = try TLSClientContext(caFile: pki.caCertificate)
        let outcome = await exchange(on: loop, port: listener.port, tls: client, serverName: "localhost", payload: [9])
        #expect(outcome.received == [9])
    }

    @Test("a client that never finishes the handshake is closed after the handshake timeout")
    func handshakeTimeout() async throws {
        defer { pki.remove() }
        let group = EventLoopGroup(count: 1)
        defer { group.shutdown() }
        let context = try TLSServerContext(
            certificateChainFile: pki.serverCertificate, privateKeyFile: pki.serverKey,
            handshakeTimeoutMilliseconds: 100)
        let (listener, _) = try tlsEchoServer(group, context: context)

        let closed = TestSignal<String>()
        let start = Date()
        let loop = group.loops[0]
        loop.execute {
            TCPConnector.connect(on: loop, host: "127.0.0.1", port: listener.port) { result in
                guard case .success(let stream) = result else { return closed.fulfill("connect failed") }
                stream.delegate = Collector(expected: Int.max, closed: closed)  // says nothing
            }
        }
        #expect(await closed.wait(seconds: 5) != nil)
        #expect(Date().timeIntervalSince(start) >= 0.09)
    }

    @Test("the connector's timeout covers a TLS handshake the server never answers")
    func connectorTimeout() async throws {
        defer { pki.remove() }
        let group = EventLoopGroup(count: 1)
        defer { group.shutdown() }
        // A plain TCP listener that accepts and stays silent.
        let silent = try Listener(group: group, host: "127.0.0.1", port: 0) { stream in
            stream.delegate = Collector(expected: Int.max)
        }
        let client = try TLSClientContext(caFile: pki.caCertificate)
        let start = Date()
        let outcome = await exchange(
            on: group.loops[0], port: silent.port, tls: client, serverName: "localhost", timeoutMilliseconds: 150,
            payload: [1])
        #expect(outcome.error?.contains("ETIMEDOUT") == true)
        #expect(Date().timeIntervalSince(start) >= 0.14)
    }

    @Test("a client offering only unknown ALPN protocols gets no_application_protocol (RFC 7301 §3.2)")
    func alpnMismatch() async throws {
        defer { pki.remove() }
        let group = EventLoopGroup(count: 1)
        defer { group.shutdown() }
        let (listener, _) = try tlsEchoServer(group, context: try serverContext(alpn: ["http/1.1"]))
        let client = try TLSClientContext(caFile: pki.caCertificate, alpn: ["spdy/3"])
        let outcome = await exchange(
            on: group.loops[0], port: listener.port, tls: client, serverName: "localhost", payload: [1])
        #expect(outcome.error?.contains("no application protocol") == true)
    }

    @Test("mutual TLS: a client certificate from the configured CA is required and its subject reported")
    func mutualTLS() async throws {
        defer { pki.remove() }
        let group = EventLoopGroup(count: 1)
        defer { group.shutdown() }
        let context = try TLSServerContext(
            certificateChainFile: pki.serverCertificate, privateKeyFile: pki.serverKey, clientCAFile: pki.caCertificate)
        let (listener, serverInfo) = try tlsEchoServer(group, context: context)
        let issued = try pki.issue(
            name: "client", commonName: "pdmp-client-1", subjectAltNames: "DNS:client", clientAuth: true)

        let anonymous = try TLSClientContext(caFile: pki.caCertificate)
        let refused = await exchange(
            on: group.loops[0], port: listener.port, tls: anonymous, serverName: "localhost", payload: [1])
        #expect(refused.received.isEmpty)

        let identified = try TLSClientContext(
            caFile: pki.caCertificate, certificateChainFile: issued.certificate, privateKeyFile: issued.key)
        let accepted = await exchange(
            on: group.loops[0], port: listener.port, tls: identified, serverName: "localhost", payload: [2])
        #expect(accepted.received == [2])
        #expect(await serverInfo.wait()?.peerSubject == "CN=pdmp-client-1")
    }

    @Test("close() sends close_notify, which the peer sees as a clean close")
    func closeNotify() async throws {
        defer { pki.remove() }
        let group = EventLoopGroup(count: 1)
        defer { group.shutdown() }
        let serverClosed = TestSignal<String>()
        final class Closer: ByteStreamDelegate {
            let closed: TestSignal<String>
            init(closed: TestSignal<String>) { self.closed = closed }
            func streamDidRead(_ stream: any ByteStream, bytes: UnsafeRawBufferPointer) {}
            func streamDidClose(_ stream: any ByteStream, error: (any Error)?) {
                closed.fulfill(error.map { "\($0)" } ?? "clean")
            }
            func streamDidDrain(_ stream: any ByteStream) {}
        }
        let listener = try Listener(group: group, host: "127.0.0.1", port: 0, tls: try serverContext()) { stream in
            stream.delegate = Closer(closed: serverClosed)
        }
        let client = try TLSClientContext(caFile: pki.caCertificate)
        let loop = group.loops[0]
        loop.execute {
            TCPConnector.connect(on: loop, host: "127.0.0.1", port: listener.port, tls: client) { result in
                if case .success(let stream) = result { stream.close() }
            }
        }
        #expect(await serverClosed.wait() == "clean")
    }
}
