// The per-connection receive buffer. Appends and consumption are amortised O(n): consumed bytes are only
// reclaimed once they make up more than half of the storage, so a trickling peer never causes quadratic
// copying.

/// A growable byte buffer with a read cursor.
struct ByteAccumulator {
    private var storage: [UInt8] = []
    private var readerIndex = 0

    /// Bytes not yet consumed.
    var readableCount: Int { storage.count - readerIndex }
    var isEmpty: Bool { readerIndex == storage.count }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        if readerIndex > 0 && readerIndex * 2 >= storage.count {
            storage.removeSubrange(0..<readerIndex)
            readerIndex = 0
        }
        storage.append(contentsOf: bytes)
    }

    mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// Marks `count` readable bytes as consumed.
    mutating func consume(_ count: Int) {
        precondition(count <= readableCount, "consumed more than readable")
        readerIndex += count
        if readerIndex == storage.count {
            storage.removeAll(keepingCapacity: storage.capacity <= 64 * 1024)
            readerIndex = 0
        }
    }

    mutating func removeAll() {
        storage.removeAll()
        readerIndex = 0
    }

    /// Lends the readable bytes (valid only inside `body`).
    func withReadableBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try storage.withUnsafeBytes { raw in
            try body(UnsafeRawBufferPointer(rebasing: raw[readerIndex...]))
        }
    }

    /// A copy of readable bytes `range` (offsets relative to the first readable byte).
    func copy(_ range: Range<Int>) -> [UInt8] {
        Array(storage[(readerIndex + range.lowerBound)..<(readerIndex + range.upperBound)])
    }
}
