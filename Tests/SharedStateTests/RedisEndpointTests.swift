import Testing
@testable import SharedState

@Suite("Redis URLs")
struct RedisEndpointTests {
    @Test("host, port, password and database are read; the display form hides the password")
    func full() throws {
        let endpoint = try RedisEndpoint(url: "redis://:s%40cret@10.0.0.7:6380/3")
        #expect(endpoint.host == "10.0.0.7")
        #expect(endpoint.port == 6380)
        #expect(endpoint.password == "s@cret")
        #expect(endpoint.database == 3)
        #expect(endpoint.display == "redis://10.0.0.7:6380/3")
        #expect(!endpoint.display.contains("cret"))
    }

    @Test("port 6379 and database 0 are the defaults; IPv6 hosts lose their brackets")
    func defaults() throws {
        let v4 = try RedisEndpoint(url: "redis://127.0.0.1")
        #expect(v4.port == 6379 && v4.database == 0 && v4.password == nil)
        let v6 = try RedisEndpoint(url: "redis://[::1]:7000")
        #expect(v6.host == "::1" && v6.port == 7000)
        #expect(v6.display == "redis://[::1]:7000/0")
    }

    @Test("other schemes, a missing host and a non-numeric database are refused without echoing the password",
          arguments: ["rediss://127.0.0.1:6379", "http://127.0.0.1", "redis://", "redis://:pw@127.0.0.1/cache"])
    func refused(url: String) {
        #expect(throws: RedisFailure.self) { try RedisEndpoint(url: url) }
        do {
            _ = try RedisEndpoint(url: url)
        } catch {
            #expect(!error.reason.contains(":pw@"))
        }
    }
}
