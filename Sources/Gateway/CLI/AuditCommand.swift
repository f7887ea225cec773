// `pdmp-gateway audit verify FILE...` (ARCHITECTURE §4, issue #7): checks the audit hash chain across the
// files in the order given and names the first broken record. A directory stands for its chain files in
// name order (`audit-<first seq, 20 digits>.ndjson`, so name order is chain order).
// `pdmp-gateway audit bench`: durable records/s of the audit path on a disk, against plain write +
// fdatasync of the same bytes in the same run (docs/audit.md "Benchmark").

import Audit
import Foundation

enum AuditCommand {
    static func run(_ args: ParsedArguments, output: CLIOutput) throws -> Int32 {
        if try MoreCommands.subcommand(args, ["verify", "bench"]) == "bench" { return try bench(args, output: output) }
        try MoreCommands.allow(args)
        let paths = Array(args.words.dropFirst(2))
        guard !paths.isEmpty else { throw CLIError("audit verify needs the audit files (or their directory)") }
        let files = try expand(paths)
        let report = AuditChainVerifier.verify(files: files)
        if report.isValid {
            output.out("\(report)\n")
            return 0
        }
        output.err("\(report)\n")
        return 1
    }

    /// `audit bench [--records N] [--producers P] [--dir DIR] [--keep]`: prints the gateway's and the
    /// reference's records/s and their ratio; exit 1 when a record failed or the chain does not verify.
    static func bench(_ args: ParsedArguments, output: CLIOutput) throws -> Int32 {
        try MoreCommands.allow(args, options: ["records", "producers", "dir"], flags: ["keep"])
        guard args.words.count == 2 else { throw CLIError("audit bench takes no arguments, only options") }
        let records = try positive(args, "records", default: 20_000, max: 10_000_000)
        let producers = try positive(args, "producers", default: 4, max: 256)
        let directory = args.option("dir") ?? "."
        let result: AuditSinkBenchmark.Result
        do {
            result = try AuditSinkBenchmark.run(
                records: records, producers: producers, directory: directory, keep: args.flags.contains("keep"))
        } catch {
            throw CommandFailure("audit bench: \(error)")
        }
        output.out(report(result, directory: directory))
        guard result.verifiedRecords == records else {
            output.err("audit bench: the chain verified \(result.verifiedRecords) of \(records) records\n")
            return 1
        }
        return 0
    }

    static func report(_ r: AuditSinkBenchmark.Result, directory: String) -> String {
        func rate(_ value: Double) -> String { String(Int(value.rounded())) }
        return """
            audit bench in \(directory): \(r.records) records of \(r.meanEventBytes)-byte events from \
            \(r.producers) producers, \(r.commits) group commits (\(r.recordsPerCommit) records each)
            gateway   (build event + chain + file sink, fdatasync per commit): \(rate(r.gatewayRate)) records/s, \
            \(rate(r.gatewayCPUMicrosPerRecord)) CPU µs/record
            reference (same bytes, write + fdatasync, same batch size):       \(rate(r.referenceRate)) records/s, \
            \(rate(r.referenceCPUMicrosPerRecord)) CPU µs/record
            ratio gateway/reference: \(String(format: "%.2f", r.ratio))
            chain verified: \(r.verifiedRecords) records
            load average (1/5/15 min) after the run: \(AuditSinkBenchmark.loadAverage() ?? "unknown")

            """
    }

    static func positive(_ args: ParsedArguments, _ name: String, default value: Int, max: Int) throws(CLIError) -> Int
    {
        guard let text = args.option(name) else { return value }
        guard let number = Int(text), number > 0, number <= max else {
            throw CLIError("--\(name) must be a whole number from 1 to \(max)")
        }
        return number
    }

    /// Files as given; a directory becomes its `*.ndjson` files in name order.
    static func expand(_ paths: [String]) throws(CommandFailure) -> [String] {
        var files: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw CommandFailure("no such file: \(path)")
            }
            guard isDirectory.boolValue else {
                files.append(path)
                continue
            }
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [])
                .filter(isChainFile).sorted()
            guard !names.isEmpty else { throw CommandFailure("no audit chain files (audit-<seq>.ndjson) in \(path)") }
            files += names.map { (path as NSString).appendingPathComponent($0) }
        }
        return files
    }

    /// `<prefix>-<20 digits>.ndjson`: the sink's chain files (not a torn tail it set aside, nor other files).
    static func isChainFile(_ name: String) -> Bool {
        guard name.hasSuffix(".ndjson") else { return false }
        let stem = name.dropLast(".ndjson".count)
        let digits = stem.suffix(20)
        return digits.count == 20 && digits.allSatisfy { $0.isASCII && $0.isNumber } && stem.dropLast(20).hasSuffix("-")
    }
}
