# pdmp-gateway: the two set-up commands are `make run` and `make test` (see README.md).
# Both install what they need (Debian packages, the Python venv for the demo upstream) first.

SWIFT ?= swift
SWIFT_BUILD_FLAGS ?=
RELEASE_BIN := .build/release/pdmp-gateway
DEBUG_BIN := .build/debug/pdmp-gateway

.PHONY: run test deps build release unit-tests integration-tests loadtest clean

deps:
	@scripts/setup-apt
	@scripts/setup-python

release: deps
	$(SWIFT) build -c release --product pdmp-gateway $(SWIFT_BUILD_FLAGS)

build: deps
	$(SWIFT) build --build-tests $(SWIFT_BUILD_FLAGS)

# Starts the demo upstream (sekmet-fhir with generated PDMP data behind the demo $pdmp-history
# responder) and the gateway on https://127.0.0.1:8443. Ctrl-C stops everything it started.
run: release
	@deploy/demo/run-demo --gateway $(RELEASE_BIN)

# Everything the tests need, then every test: Swift unit and integration tests (one debug build,
# test targets in parallel), the sample policy tests through the CLI, and the demo self-test.
test: build
	scripts/run-tests

loadtest: release
	deploy/loadtest/run

clean:
	rm -rf .build .demo
