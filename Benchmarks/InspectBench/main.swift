// Response inspection of a searchset Bundle, the tree path against the spliced path (issue #5: ≤ 5 ms for
// a 1 MB Bundle). Only release builds give meaningful numbers:
//
//   python3 deploy/loadtest/fixtures/make_fixtures.py /tmp/fixtures
//   swift build -c release --scratch-path /tmp/bench-rel --product inspect-bench
//   /tmp/bench-rel/release/inspect-bench /tmp/fixtures/md-large.json [iterations]
//
// The fixture's dispenses all belong to one patient (read from the Bundle's `self` link); the check runs
// with that patient allowed (nothing withheld, every fullUrl rewritten) and with another patient allowed
// (everything withheld). Prints the median and best milliseconds per run and per MB, measured as the thread's
// CPU time (CLOCK_THREAD_CPUTIME_ID), so that other processes on a loaded machine count less.
@_spi(Benchmark) import FHIR
import Foundation
import GatewayCore

let arguments = CommandLine.arguments
guard arguments.count >= 2, let data = FileManager.default.contents(atPath: arguments[1]) else {
    print("usage: inspect-bench BUNDLE.json [iterations]")
    exit(2)
}
let iterations = arguments.count > 2 ? Int(arguments[2]) ?? 30 : 30
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
print("bundle: \(body.count) bytes, \(bundle["entry"]?.arrayValue?.count ?? 0) entries, patient \(patient)")
if ProcessInfo.processInfo.environment["BENCH_ONLY_SPLICED"] != nil {  // for profiling
    for _ in 0..<10 { _ = run(splicing: true, allowed: [patient]) }
    exit(0)
}
for (label, allowed) in [("own patient", Set([patient])), ("other patient", Set(["someone-else"]))] {
    let tree = run(splicing: false, allowed: allowed)
    let spliced = run(splicing: true, allowed: allowed)
    let same = (try? JSONValue.parse(tree.0.body)) == (try? JSONValue.parse(spliced.0.body))
        && tree.0.withheld == spliced.0.withheld && tree.0.patientsReleased == spliced.0.patientsReleased
    for (name, result) in [("tree", tree), ("spliced", spliced)] {
        let line = String(
            format: "%@ %-8@ median %7.2f ms (%6.2f ms/MB)  best %7.2f ms  withheld %d",
            label as NSString, name as NSString, result.median, result.median / megabytes, result.best,
            result.0.withheld)
        print(line)
    }
    print("\(label): same result on both paths: \(same)")
    if !same { exit(1) }
}

func timeMedian(_ label: String, _ body: () -> Void) {
    var times: [Double] = []
    for _ in 0..<iterations {
        let start = cpuNanos()
        body()
        times.append(Double(cpuNanos() - start) / 1e6)
    }
    times.sort()
    print(String(format: "%@: median %7.2f ms  best %7.2f ms", label as NSString, times[times.count / 2], times[0]))
}
timeMedian("parse into a tree") { _ = try? JSONValue.parse(body) }
timeMedian("index") { _ = try? JSONIndex(parsing: body) }
