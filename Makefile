# qoslab make targets. The e2e suites need root (network namespaces).
export PATH := /usr/local/go/bin:$(PATH)
GO      ?= go
GINKGO  := $(GO) run github.com/onsi/ginkgo/v2/ginkgo
BIN     := bin/qoslab
REPORTS := reports

.PHONY: all build deps test check unit e2e demo bench clean

all: build

build:
	$(GO) build -buildvcs=auto -o $(BIN) ./cmd/qoslab

deps:
	./scripts/install-deps.sh
	$(GO) mod download

# The whole test suite: static checks, unit tests, then the e2e suites (root).
test: deps check unit e2e

# gofmt, and the Vagrantfile when vagrant is installed (CI installs it; there
# it is required). --ignore-provider: validating the file needs no VM provider.
check:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	@if command -v vagrant >/dev/null; then vagrant validate --ignore-provider; \
	 elif [ "$$CI" = true ]; then echo "check: vagrant is not installed (CI must validate the Vagrantfile)"; exit 1; \
	 else echo "vagrant not installed: Vagrantfile not validated"; fi

unit:
	$(GO) vet ./...
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /e2e)

e2e: build
	mkdir -p $(REPORTS)
	$(GINKGO) -r --label-filter=root --junit-report=$(REPORTS)/e2e-junit.xml --output-dir=. --timeout=30m ./e2e

# The one-command demo on the built-in topology: a verified call, with
# pcaps, report and ladders left in runs/<time>/. Exit status = verdict.
demo: deps build
	./$(BIN) run

bench: build
	./$(BIN) bench up -n 20

clean:
	-./$(BIN) down --all 2>/dev/null
	rm -rf bin $(REPORTS)
