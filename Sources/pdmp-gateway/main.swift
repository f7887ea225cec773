// pdmp-gateway: see `pdmp-gateway --help` and docs/.
import Foundation
import Gateway

exit(GatewayCLI.run(Array(CommandLine.arguments.dropFirst())))
