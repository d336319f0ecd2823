# qoslab make targets. The e2e suites need root (network namespaces).
export PATH := /usr/local/go/bin:$(PATH)
GO      ?= go
GINKGO  := $(GO) run github.com/onsi/ginkgo/v2/ginkgo
BIN     := bin/qoslab
REPORTS := reports

.PHONY: all build deps test unit e2e demo bench fuzz clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/qoslab

deps:
	./scripts/install-deps.sh
	$(GO) mod download

# The whole test suite: unit tests, then the e2e suites (root).
test: deps unit e2e

unit:
	$(GO) vet ./...
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /e2e)

e2e: build
	mkdir -p $(REPORTS)
	$(GINKGO) -r --label-filter=root --junit-report=$(REPORTS)/e2e-junit.xml --output-dir=. --timeout=30m ./e2e

# The one-command demo on the built-in topology.
demo: deps build
	./$(BIN) up
	./$(BIN) status
	./$(BIN) down

bench: build
	./$(BIN) bench up -n 20

clean:
	-./$(BIN) down --all 2>/dev/null
	rm -rf bin $(REPORTS)
