// Response inspection of a searchset Bundle, the tree path against the spliced path (issue #5: ≤ 5 ms for
// a 1 MB Bundle), with references measured in the same run on the same bytes: Foundation's
// JSONSerialization parse and a plain memchr pass, reported as ratios so that the result carries over
// between machines. Only release builds give meaningful numbers:
//
//   python3 deploy/loadtest/fixtures/make_fixtures.py /tmp/fixtures
//   swift build -c release --scratch-path /tmp/bench-rel --product inspect-bench
//   /tmp/bench-rel/release/inspect-bench /tmp/fixtures/md-large.json [iterations] [--json]
//
// The fixture's dispenses all belong to one patient (read from the Bundle's `self` link); the check runs
// with that patient allowed (nothing withheld, every fullUrl rewritten) and with another patient allowed
// (everything withheld). Prints the median and best milliseconds per run and per MB, measured as the thread's
// CPU time (CLOCK_THREAD_CPUTIME_ID), so that other processes on a loaded machine count less. The last line
// (`--json`: the only line) is one JSON object for deploy/loadtest: see `summary` at the end.
@_spi(Benchmark) import FHIR
import Foundation
import GatewayCore

let jsonOnly = CommandLine.arguments.contains("--json")
let arguments = CommandLine.arguments.filter { $0 != "--json" }
guard arguments.count >= 2, let data = FileManager.default.contents(atPath: arguments[1]) else {
    print("usage: inspect-bench BUNDLE.json [iterations] [--json]")
    exit(2)
}
let iterations = arguments.count > 2 ? Int(arguments[2]) ?? 30 : 30
/// Human-readable lines, unless only the JSON summary is wanted.
func say(_ line: String) { if !jsonOnly { print(line) } }
let body = [UInt8](data)
let bundle = try JSONValue.parse(body)
let base = bundle["link"]?[0]?["url"]?.stringValue.map { String($0.prefix { $0 != "?" }) } ?? ""
let upstreamBase = String(base.dropLast("/MedicationDispense".count))
let patient = String((bundle["link"]?[0]?["url"]?.stringValue ?? "").split(separator: "=").last ?? "")
let interaction = Interaction(
    kind: .searchType, method: "GET", resourceType: "MedicationDispense",
    parameters: [SearchParameter(name: "patient", values: [patient])], patients: [patient])

/// The calling thread's CPU time in nanoseconds.
func cpuNanos() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

extension JSONValue {
    subscript(index: Int) -> JSONValue? { arrayValue.flatMap { index < $0.count ? $0[index] : nil } }
}

func run(splicing: Bool, allowed: Set<String>) -> (InspectionResult, median: Double, best: Double) {
    var times: [Double] = []
    var last: InspectionResult?
    for _ in 0..<iterations {
        let start = cpuNanos()
        last = ResponseInspector.inspect(
            body: body, interaction: interaction, allowedPatients: allowed, upstreamBase: upstreamBase,
            publicBase: "https://gateway.example/fhir", scopeConstraints: [], splicing: splicing)
        times.append(Double(cpuNanos() - start) / 1e6)
    }
    times.sort()
    return (last!, times[times.count / 2], times[0])
}

let megabytes = Double(body.count) / 1_048_576
say("bundle: \(body.count) bytes, \(bundle["entry"]?.arrayValue?.count ?? 0) entries, patient \(patient)")
if ProcessInfo.processInfo.environment["BENCH_ONLY_SPLICED"] != nil {  // for profiling
    for _ in 0..<10 { _ = run(splicing: true, allowed: [patient]) }
    exit(0)
}
var summary: [String: Double] = [:]
let cases = [("own patient", "own", Set([patient])), ("other patient", "other", Set(["someone-else"]))]
for (label, key, allowed) in cases {
    let tree = run(splicing: false, allowed: allowed)
    let spliced = run(splicing: true, allowed: allowed)
    let same = (try? JSONValue.parse(tree.0.body)) == (try? JSONValue.parse(spliced.0.body))
        && tree.0.withheld == spliced.0.withheld && tree.0.patientsReleased == spliced.0.patientsReleased
    for (name, result) in [("tree", tree), ("spliced", spliced)] {
        let line = String(
            format: "%@ %-8@ median %7.2f ms (%6.2f ms/MB)  best %7.2f ms  withheld %d",
            label as NSString, name as NSString, result.median, result.median / megabytes, result.best,
            result.0.withheld)
        say(line)
    }
    summary["check_\(key)_ms"] = spliced.median
    summary["check_\(key)_ms_per_mb"] = spliced.median / megabytes
    summary["tree_\(key)_ms"] = tree.median
    say("\(label): same result on both paths: \(same)")
    if !same { exit(1) }
}

@discardableResult
func timeMedian(_ label: String, _ body: () -> Void) -> Double {
    var times: [Double] = []
    for _ in 0..<iterations {
        let start = cpuNanos()
        body()
        times.append(Double(cpuNanos() - start) / 1e6)
    }
    times.sort()
    say(String(format: "%@: median %7.2f ms  best %7.2f ms", label as NSString, times[times.count / 2], times[0]))
    return times[times.count / 2]
}
timeMedian("parse into a tree") { _ = try? JSONValue.parse(body) }
timeMedian("index") { _ = try? JSONIndex(parsing: body) }

// The references. Foundation's parser validates and builds the whole tree (what a gateway that simply
// parsed every response would pay); memchr finds every quote byte (a floor: one pass over the bytes).
let foundationData = Data(body)
let foundation = timeMedian("reference: JSONSerialization parse") {
    _ = try? JSONSerialization.jsonObject(with: foundationData)
}
var quotes = 0
let scan = timeMedian("reference: memchr over every quote") {
    quotes = body.withUnsafeBytes { raw in
        guard var cursor = raw.baseAddress else { return 0 }
        let end = cursor + raw.count
        var count = 0
        while cursor < end, let found = memchr(cursor, 0x22, end - cursor) {
            count += 1
            cursor = UnsafeRawPointer(found) + 1
        }
        return count
    }
}
let check = max(summary["check_own_ms"] ?? 0, summary["check_other_ms"] ?? 0)
summary["bytes"] = Double(body.count)
summary["check_ms"] = check
summary["target_ms_per_mb"] = 5
summary["reference_foundation_ms"] = foundation
summary["reference_memchr_ms"] = scan
summary["ratio_to_foundation"] = foundation > 0 ? check / foundation : 0
summary["ratio_to_memchr"] = scan > 0 ? check / scan : 0
say(
    String(
        format: "check (worse of own/other) %.2f ms = %.2f ms/MB (target 5): %.2f x JSONSerialization, %.1f x memchr",
        check, check / megabytes, summary["ratio_to_foundation"]!, summary["ratio_to_memchr"]!))
summary["quotes"] = Double(quotes)  // keeps the scan from being optimised away
let json = JSONValue.object(
    JSONObject(
        [("name", JSONValue.string("inspect-1mb-searchset"))]
            + summary.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.number(String(format: "%.4f", $0.value))) }))
print(json.serializedString())
