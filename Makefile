# One command each: `make demo` sets up and runs the nightly job on the embedded demo;
# `make test` sets up and runs the checks and the tests (what CI runs).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup system-deps demo test lint bench clean portal bench-portal prefect-server oidc-provider

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(BIN)/databook demo

# The school portal on http://localhost:8000 with two demo DSLs and a council officer (their
# sign-in is printed):
# makes the demo council and a published run first if there is none.
portal: setup
	$(BIN)/databook portal demo --check || $(BIN)/databook demo
	$(BIN)/databook portal demo
	$(BIN)/databook portal serve --host 127.0.0.1 --port 8000

# A long-running Prefect server, as a council runs one (README, Operations): in another
# terminal, `make prefect-server`; then `PREFECT_API_URL=http://127.0.0.1:4200/api make demo`
# (or `databook run`) starts its flow without the temporary server's start-up.
prefect-server: setup
	mkdir -p -m 700 .databook && mkdir -p -m 700 .databook/prefect-server
	PREFECT_HOME=$(CURDIR)/.databook/prefect-server PREFECT_SERVER_ANALYTICS_ENABLED=false \
	  $(BIN)/prefect server start --host 127.0.0.1 --port 4200

# Tests use a real OpenSSH server (the SFTP drop), a real headless Chromium (the data-quality
# report) and LibreOffice (an independent reader of the encrypted workbooks); install them
# from Debian if this machine lacks them.
SYSTEM_PACKAGES := /usr/sbin/sshd:openssh-server /usr/bin/chromium:chromium \
	/usr/bin/soffice:libreoffice-calc-nogui /usr/lib/python3/dist-packages/uno.py:python3-uno \
	/usr/bin/npm:npm
system-deps:
	@missing=""; for pair in $(SYSTEM_PACKAGES); do \
	  [ -e "$${pair%%:*}" ] || missing="$$missing $${pair##*:}"; done; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing$$missing from Debian (for the tests)"; \
	  apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# The council sign-in tests start a certified OpenID provider (npm's oidc-provider, pinned by
# tests/oidc/package-lock.json) on 127.0.0.1; installed outside git, once per lock file.
OIDC_STAMP := tests/oidc/node_modules/.installed
oidc-provider: $(OIDC_STAMP)
$(OIDC_STAMP): tests/oidc/package.json tests/oidc/package-lock.json
	npm ci --prefix tests/oidc --no-audit --no-fund --loglevel=error
	touch $(OIDC_STAMP)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

# Two pytest-xdist workers, a test file each at a time (the tests start real servers and
# subprocesses, so two overlap well even on 2 cores); TEST_WORKERS=0 runs them in one process.
TEST_WORKERS ?= 2
test: lint system-deps oidc-provider
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

bench: setup
	$(BIN)/python benchmarks/run.py

# The school portal at 08:30: 600 DSLs sign in and download in 10 minutes (locust against
# uvicorn on 127.0.0.1). BENCH_PORTAL_ARGS="--minutes 2 --users 120" for a quick look;
# "--db postgres" or "--sqlite-synchronous NORMAL" for the other measurements.
bench-portal: setup
	$(BIN)/python benchmarks/portal/portal_bench.py $(BENCH_PORTAL_ARGS)

clean:
	rm -rf $(VENV) .databook benchmarks/out .pytest_cache .mypy_cache .ruff_cache
