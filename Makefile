# One command each: `make demo` sets up and runs the nightly job on the embedded demo;
# `make test` sets up and runs the checks and the tests (what CI runs).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Ports of the servers `make prefect-server` and `make portal` start (127.0.0.1), e.g.
# `make prefect-server PREFECT_PORT=4300` where 4200 is taken.
PREFECT_PORT ?= 4200
PORTAL_PORT  ?= 8000

.PHONY: setup system-deps demo test unit lint docs docs-reference docs-serve screenshot bench bench-quality clean \
	portal bench-portal prefect-server oidc-provider

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(BIN)/databook demo

# The school portal on http://localhost:8000 (PORTAL_PORT=N for another port) with two demo
# DSLs and a council officer (their sign-in is printed):
# makes the demo council and a published run first if there is none.
portal: setup
	$(BIN)/databook portal demo --check || $(BIN)/databook demo
	$(BIN)/databook portal demo
	$(BIN)/databook portal serve --host 127.0.0.1 --port $(PORTAL_PORT)

# A long-running Prefect server, as a council runs one (docs: Schedule the nightly run): in another
# terminal, `make prefect-server`; then `PREFECT_API_URL=http://127.0.0.1:4200/api make demo`
# (or `databook run`) starts its flow without the temporary server's start-up
# (PREFECT_PORT=N for another port, in the URL too).
prefect-server: setup
	mkdir -p -m 700 .databook && mkdir -p -m 700 .databook/prefect-server
	PREFECT_HOME=$(CURDIR)/.databook/prefect-server PREFECT_SERVER_ANALYTICS_ENABLED=false \
	  $(BIN)/prefect server start --host 127.0.0.1 --port $(PREFECT_PORT)

# Tests use a real OpenSSH server (the SFTP drop), a real headless Chromium (the data-quality
# report), LibreOffice (an independent reader of the encrypted workbooks), nginx (the portal
# behind TLS, deploy/nginx) and systemd-analyze (deploy/systemd's units); install them from
# Debian if this machine lacks them.
SYSTEM_PACKAGES := /usr/sbin/sshd:openssh-server /usr/bin/chromium:chromium \
	/usr/bin/soffice:libreoffice-calc-nogui /usr/lib/python3/dist-packages/uno.py:python3-uno \
	/usr/sbin/nginx:nginx /usr/bin/systemd-analyze:systemd \
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


# ruff, mypy, the import contracts between the top-level packages (pyproject.toml,
# [tool.importlinter]) and the documentation site.
lint: setup docs
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

# The documentation site in build/site: --strict fails on a broken link or anchor. The
# reference pages generated from the code are checked by tests/unit/docs.
export NO_MKDOCS_2_WARNING := 1
docs: setup
	$(BIN)/mkdocs build --strict  # not --quiet: it hides the warnings --strict counts

# Regenerate docs/reference from the code (commands, settings, registers, columns, ledger kinds).
docs-reference: setup
	$(BIN)/python tools/gen_reference.py

docs-serve: setup
	$(BIN)/mkdocs serve --dev-addr 127.0.0.1:8001

# The portal's screenshot in docs/assets (a demo council in a temporary DATABOOK_HOME).
screenshot: setup
	$(BIN)/python tools/screenshot.py

# Two pytest-xdist workers, a test file each at a time (the tests start real servers and
# subprocesses, so two overlap well even on 2 cores); TEST_WORKERS=0 runs them in one process.
# `make test T=tests/path/test_x.py` runs one file (or folder, or node id) without the lint.
# The 25 slowest tests are listed at the end.
TEST_WORKERS ?= 2
T ?=
test: $(if $(T),setup,lint) system-deps oidc-provider
	$(BIN)/pytest $(if $(T),$(T),-n $(TEST_WORKERS) --dist loadfile) --durations=25

# The unit tests alone (tests/unit).
unit: setup
	$(BIN)/pytest tests/unit -n $(TEST_WORKERS) --dist loadfile --durations=25

bench: setup
	$(BIN)/python benchmarks/run.py

# The data-quality step (findings history, report, worklist) on the same county, as a ratio
# to the transform measured beside it.
bench-quality: setup
	$(BIN)/python benchmarks/data_quality.py

# The school portal at 08:30: 600 DSLs sign in and download in 10 minutes (locust against
# uvicorn on 127.0.0.1). BENCH_PORTAL_ARGS="--minutes 2 --users 120" for a quick look;
# "--db postgres" or "--sqlite-synchronous NORMAL" for the other measurements.
bench-portal: setup
	$(BIN)/python benchmarks/portal/portal_bench.py $(BENCH_PORTAL_ARGS)

clean:
	rm -rf $(VENV) .databook benchmarks/out build .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
