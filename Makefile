# tfmatch build. `make demo` and `make test` need only Go and make.

GO        ?= go
BIN       := .demo/bin
TOOLS     := $(CURDIR)/.tools
DEMO_ARGS ?=

# Pinned code generators and linters.
PROTOC_GEN_GO      := google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_GO_GRPC := google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.0
STATICCHECK        := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build demo test test-short vet fmt-check lint generate bench bench-postgres fuzz clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

## demo: a synthetic district, four agency nodes and the matcher on loopback
demo: build
	$(BIN)/matchctl demo -dir .demo/run -bin $(BIN) $(DEMO_ARGS)

## test: every test, including the end-to-end tests with the real binaries
test: fmt-check vet
	$(GO) test -count=1 -timeout 15m ./...

test-short:
	$(GO) test -short ./...

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.tools/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

lint: fmt-check vet
	GOBIN=$(TOOLS) $(GO) install $(STATICCHECK)
	$(TOOLS)/staticcheck ./...

## generate: regenerate the protobuf code (needs protoc: Debian's protobuf-compiler)
generate:
	GOBIN=$(TOOLS) $(GO) install $(PROTOC_GEN_GO)
	GOBIN=$(TOOLS) $(GO) install $(PROTOC_GEN_GO_GRPC)
	PATH=$(TOOLS):$$PATH protoc -I proto \
		--go_out=proto --go_opt=paths=source_relative \
		--go-grpc_out=proto --go-grpc_opt=paths=source_relative \
		proto/tfmatch/v1/tfmatch.proto

## bench: the whole programme measured with the real binaries (BENCH_HOUSEHOLDS,
## default a district of 200,000 households; 2000000 is about 5 million people),
## then the Go benchmarks of the hot paths. Figures: one JSON line per run
## appended to BENCH_OUT. See docs/performance.md.
BENCH_HOUSEHOLDS ?= 200000
BENCH_OUT        ?= .demo/bench.jsonl
BENCHTIME        ?= 200ms
bench: build
	$(BIN)/matchctl bench -households $(BENCH_HOUSEHOLDS) -dir .demo/bench -bin $(BIN) -out $(BENCH_OUT)
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) ./keys/... ./agency/... ./matcher/...

## bench-postgres: the pipeline and then PostgreSQL (bench/postgres/run.sh,
## installed from the distribution's packages if missing) on the same
## district, and the ratio of their times
bench-postgres: build
	$(BIN)/matchctl bench -households $(BENCH_HOUSEHOLDS) -dir .demo/bench -bin $(BIN) -out $(BENCH_OUT)
	bench/postgres/run.sh .demo/bench/district $(BENCH_OUT)

## fuzz: run every fuzz target for FUZZTIME each (default 10s)
FUZZTIME ?= 10s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

clean:
	rm -rf .demo .tools
