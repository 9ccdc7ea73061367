# The two commands of the README: `make demo` and `make test`. Each first runs the setup
# script, which installs what the machine lacks (idempotently), then builds and runs.
CARGO ?= cargo

.PHONY: setup demo test lint bench-transcode

setup:
	@./scripts/setup.sh

## Real video through the network: an orchestrator+transcoder and a gateway on loopback,
## the city clip pushed through them, the HLS ladder written to ./demo-out/.
demo: setup
	$(CARGO) run --release -p livepeer -- demo $(DEMO_ARGS)

## The whole test suite (real ffmpeg, real sockets on 127.0.0.1).
test: setup
	$(CARGO) test --workspace --locked

lint: setup
	node contracts/compile.js --check
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

## Transcoding benchmark: bare ffmpeg against the full gateway -> orchestrator path.
bench-transcode: setup
	$(CARGO) run --release -p livepeer -- bench transcode
