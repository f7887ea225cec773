// Reading the spool (the chain files after the cursor), the cursor file, and the Bundle format.

import GatewayCore

extension AuditShipper {
    /// Records read for one Bundle and the cursor after them.
    struct Batch {
        var records: [AuditRecord] = []
        var next: Cursor
    }

    /// Reads up to `batchSize` records after the cursor with seq ≤ `watermark`; nil on a read error.
    func readBatch(upTo watermark: UInt64) -> Batch? {
        guard let files = try? FileIO.list(configuration.directory).filter({ isChainFile($0) }), !files.isEmpty else {
            return nil
        }
        var position = startPosition(files)
        var batch = Batch(next: cursor)
        while batch.records.count < configuration.batchSize, let file = position.file {
            let path = FileIO.join(configuration.directory, file)
            guard let chunk = try? FileIO.read(path, offset: position.offset, count: 4 << 20) else { return nil }
            let consumed = take(chunk, into: &batch, upTo: watermark, file: file, offset: position.offset)
            guard let consumed else { return batch.records.isEmpty ? nil : batch }
            position.offset += consumed
            if batch.records.count >= configuration.batchSize || batch.next.seq >= watermark { break }
            if consumed == 0 {
                // Nothing more in this file: continue in the next one, if any.
                guard let index = files.firstIndex(of: file), index + 1 < files.count else { break }
                position = (files[index + 1], 0)
            }
        }
        return batch
    }

    /// Decodes complete lines of `chunk` into `batch`; returns the bytes consumed, or nil when a line is not a
    /// valid record (the shipper then stops there and retries later, so a damaged record is never skipped).
    private func take(
        _ chunk: [UInt8], into batch: inout Batch, upTo watermark: UInt64, file: String, offset: Int
    ) -> Int? {
        var start = 0
        while batch.records.count < configuration.batchSize, let newline = chunk[start...].firstIndex(of: 0x0A) {
            guard case .success(let record) = RecordCodec.decode(chunk[start..<newline]) else {
                logger.error(
                    "audit spool record unreadable",
                    metadata: ["audit.file": file, "audit.offset": "\(offset + start)"])
                return nil
            }
            if record.seq > watermark { break }
            if record.seq > batch.next.seq { batch.records.append(record) }
            start = newline + 1
            batch.next = Cursor(
                seq: max(record.seq, batch.next.seq), hash: record.hash, file: file, offset: offset + start)
        }
        return start
    }

    /// Where to read from: the cursor's file and offset, or (cursor file gone or never set) the newest file
    /// that starts at or before the next seq.
    private func startPosition(_ files: [String]) -> (file: String?, offset: Int) {
        if let file = cursor.file, files.contains(file) { return (file, cursor.offset) }
        let next = cursor.seq + 1
        let candidate = files.last { (ChainFiles.firstSeq(of: $0, prefix: configuration.filePrefix) ?? 0) <= next }
        return (candidate ?? files.first, 0)
    }

    private func isChainFile(_ name: String) -> Bool {
        ChainFiles.firstSeq(of: name, prefix: configuration.filePrefix) != nil
    }

    // MARK: - Bundle

    /// A FHIR `batch` Bundle with one `PUT AuditEvent/<hash>` entry per record (idempotent redelivery).
    static func bundle(_ records: [AuditRecord]) -> [UInt8] {
        let entries: [JSONValue] = records.map { record in
            var members: [(String, JSONValue)] = [("id", .str(record.hash))]
            if case .object(let event) = record.event {
                members += event.members.filter { $0.key != "id" }.map { ($0.key, $0.value) }
            }
            return .obj([
                ("resource", .obj(members)),
                ("request", .obj([("method", .str("PUT")), ("url", .str("AuditEvent/" + record.hash))])),
            ])
        }
        return CanonicalJSON.serialize(
            .obj([("resourceType", .str("Bundle")), ("type", .str("batch")), ("entry", .array(entries))]))
    }

    /// Why a response does not accept the whole batch, or nil when it does: a 2xx status and, when a
    /// `batch-response` Bundle comes back, a 2xx status on every entry.
    static func problem(in response: AuditTransportResponse, expected count: Int) -> String? {
        guard (200..<300).contains(response.status) else { return "HTTP \(response.status)" }
        guard !response.body.isEmpty else { return nil }
        guard let body = try? JSONValue.parse(response.body), body["resourceType"]?.stringValue == "Bundle" else {
            return "response is not a Bundle"
        }
        let entries = body["entry"]?.arrayValue ?? []
        guard entries.count == count else { return "response has \(entries.count) entries for \(count)" }
        for (index, entry) in entries.enumerated() {
            let status = entry["response"]?["status"]?.stringValue ?? ""
            if !status.hasPrefix("2") { return "entry \(index): status '\(status)'" }
        }
        return nil
    }

    // MARK: - Cursor file

    static func loadCursor(_ path: String) -> Cursor {
        guard let bytes = try? FileIO.read(path), let value = try? JSONValue.parse(bytes),
            let seqText = value["seq"], case .number(let digits) = seqText, let seq = UInt64(digits)
        else { return Cursor() }
        var cursor = Cursor(seq: seq)
        cursor.hash = value["hash"]?.stringValue ?? AuditRecord.genesisHash
        cursor.file = value["file"]?.stringValue
        if case .number(let offset)? = value["offset"] { cursor.offset = Int(offset) ?? 0 }
        if cursor.offset == 0 { cursor.file = nil }
        return cursor
    }

    /// Writes the cursor durably; a failure is logged and the cursor retried with the next batch (records
    /// may then be shipped twice, which the PUT-by-hash makes harmless).
    func saveCursor() {
        var members: [(String, JSONValue)] = [("seq", .int(cursor.seq)), ("hash", .str(cursor.hash))]
        if let file = cursor.file { members += [("file", .str(file)), ("offset", .int(cursor.offset))] }
        do {
            try FileIO.writeAtomically(
                CanonicalJSON.serialize(.obj(members)), to: configuration.cursorPath, directory: cursorDirectory)
        } catch {
            logger.error("audit ship cursor not saved", metadata: ["audit.error": "\(error)"])
        }
    }

    private var cursorDirectory: String {
        let path = configuration.cursorPath
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
