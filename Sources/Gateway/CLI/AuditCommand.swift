// `pdmp-gateway audit verify FILE...` (ARCHITECTURE §4, issue #7): checks the audit hash chain across the
// files in the order given and names the first broken record. A directory stands for its chain files in
// name order (`audit-<first seq, 20 digits>.ndjson`, so name order is chain order).

import Audit
import Foundation

enum AuditCommand {
    static func run(_ args: ParsedArguments, output: CLIOutput) throws -> Int32 {
        _ = try MoreCommands.subcommand(args, ["verify"])
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
