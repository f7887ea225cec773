import GatewayTesting
import Foundation
import Testing
@testable import GatewayIO

@Suite("TLS certificate reload") struct TLSReloadTests {
    @Test("reload serves the new certificate to new connections; bad files keep the old one")
    func reload() async throws {
        let pki = try TestPKI.make()
        defer { pki.remove() }
        let group = EventLoopGroup(count: 1)
        defer { group.shutdown() }
        let context = try TLSServerContext(certificateChainFile: pki.serverCertificate, privateKeyFile: pki.serverKey)
        let (listener, _) = try tlsEchoServer(group, context: context)
        let client = try TLSClientContext(caFile: pki.caCertificate)
        let loop = group.loops[0]

        let first = await exchange(on: loop, port: listener.port, tls: client, serverName: "localhost", payload: [1])
        #expect(first.tlsInfo?.peerSubject == "CN=localhost")

        // Rewrite the configured files in place, as an operator renewing a certificate would.
        let renewed = try pki.issue(name: "renewed", commonName: "localhost-renewed")
        try FileManager.default.removeItem(atPath: pki.serverCertificate)
        try FileManager.default.copyItem(atPath: renewed.certificate, toPath: pki.serverCertificate)
        try FileManager.default.removeItem(atPath: pki.serverKey)
        try FileManager.default.copyItem(atPath: renewed.key, toPath: pki.serverKey)
        try context.reload()
        let second = await exchange(on: loop, port: listener.port, tls: client, serverName: "localhost", payload: [2])
        #expect(second.tlsInfo?.peerSubject == "CN=localhost-renewed")

        // A broken file: the reload throws with OpenSSL's reasons and the renewed certificate stays.
        let broken = pki.directory + "/broken.pem"
        try "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n".write(
            toFile: broken, atomically: true, encoding: .utf8)
        let error = #expect(throws: TLSError.self) { try context.reload(certificateChainFile: broken) }
        #expect(error?.openSSLErrors.isEmpty == false)
        #expect(error?.operation.contains(broken) == true)
        let mismatched = #expect(throws: TLSError.self) {
            try context.reload(certificateChainFile: pki.caCertificate)  // the CA cert does not match the key
        }
        #expect(mismatched?.openSSLErrors.isEmpty == false)
        let third = await exchange(on: loop, port: listener.port, tls: client, serverName: "localhost", payload: [3])
        #expect(third.tlsInfo?.peerSubject == "CN=localhost-renewed")
    }

    @Test("a connection accepted before a reload handshakes with the old certificate and ALPN list")
    func acceptedBeforeReload() async throws {
        let pki = try TestPKI.make()
        defer { pki.remove() }
        let group = EventLoopGroup(count: 1)
        defer { group.shutdown() }
        // A generous handshake timeout: issuing the renewed certificate below runs openssl twice, which can
        // take seconds on a loaded machine while this connection waits for its ClientHello.
        let context = try TLSServerContext(
            certificateChainFile: pki.serverCertificate, privateKeyFile: pki.serverKey, alpn: ["h2", "http/1.1"],
            handshakeTimeoutMilliseconds: 120_000)
        let accepted = TestSignal<Bool>()
        let listener = try Listener(group: group, host: "127.0.0.1", port: 0, tls: context) { stream in
            stream.delegate = EchoHandler()
            accepted.fulfill(true)
        }
        let loop = group.loops[0]
        let box = StreamBox()
        let connected = TestSignal<Bool>()
        loop.execute {
            TCPConnector.connect(on: loop, host: "127.0.0.1", port: listener.port) { result in
                guard case .success(let raw) = result else { return connected.fulfill(false) }
                box.stream = raw
                connected.fulfill(true)
            }
        }
        #expect(await connected.wait() == true)
        #expect(await accepted.wait() == true)

        // The server side of this connection already holds the old context; replace it now.
        let renewed = try pki.issue(name: "renewed", commonName: "localhost-renewed")
        try context.reload(certificateChainFile: renewed.certificate, privateKeyFile: renewed.key)

        let client = try TLSClientContext(caFile: pki.caCertificate, alpn: ["h2"])
        let handshake = TestSignal<TLSConnectionInfo?>()
        loop.execute {
            guard let raw = box.stream,
                  let tls = try? TLSStream(client: raw, context: client, serverName: "localhost")
            else { return handshake.fulfill(nil) }
            tls.onHandshake = { result in
                handshake.fulfill(try? result.get())
                tls.close()
            }
            tls.delegate = Collector(expected: Int.max)
        }
        let info = await handshake.wait()
        #expect(info??.peerSubject == "CN=localhost")
        #expect(info??.alpn == "h2")
    }

    @Test("an established connection keeps working across a reload")
    func connectionSurvivesReload() async throws {
        let pki = try TestPKI.make()
        defer { pki.remove() }
        let group = EventLoopGroup(count: 1)
        defer { group.shutdown() }
        let context = try TLSServerContext(certificateChainFile: pki.serverCertificate, privateKeyFile: pki.serverKey)
        let (listener, _) = try tlsEchoServer(group, context: context)
        let client = try TLSClientContext(caFile: pki.caCertificate)
        let loop = group.loops[0]

        let box = StreamBox()
        let connected = TestSignal<Bool>()
        let firstEcho = TestSignal<[UInt8]>()
        let secondEcho = TestSignal<[UInt8]>()
        loop.execute {
            TCPConnector.connect(on: loop, host: "127.0.0.1", port: listener.port, tls: client) { result in
                guard case .success(let stream) = result else { return connected.fulfill(false) }
                let collector = Collector(expected: 1, data: firstEcho)
                stream.delegate = collector
                box.stream = stream
                stream.write([1])
                connected.fulfill(true)
            }
        }
        #expect(await connected.wait() == true)
        #expect(await firstEcho.wait() == [1])

        let renewed = try pki.issue(name: "renewed", commonName: "localhost-renewed")
        try context.reload(certificateChainFile: renewed.certificate, privateKeyFile: renewed.key)
        loop.execute {
            guard let stream = box.stream else { return }
            stream.delegate = Collector(expected: 1, data: secondEcho)
            stream.write([2])
        }
        #expect(await secondEcho.wait() == [2])
        loop.execute { box.stream?.close() }
    }
}
