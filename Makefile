# Drift Cloud. `make run` and `make test` work on a fresh machine with Python 3.11+.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# reinstall whenever the dependency pins change
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock 2>/dev/null | sha1sum | cut -c1-12)
PGURL  ?= postgresql://postgres@127.0.0.1:5432/postgres

.PHONY: install run test test-external lint bench clean

$(STAMP):
	@# SAML signatures are checked by xmlsec1 (pysaml2 runs the binary; app/sso/saml.py)
	@command -v xmlsec1 >/dev/null || apt-get install -y -q xmlsec1 >/dev/null 2>&1 \
		|| (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q xmlsec1 >/dev/null 2>&1) \
		|| sudo apt-get install -y -q xmlsec1
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -c requirements.lock -e ".[dev]"
	@rm -f $(VENV)/.installed-*
	@touch $@

# the browser tests (tests/browser) drive Debian's headless Chromium over the DevTools protocol
CHROMIUM_APT := apt-get install -y -q --no-install-recommends chromium >/dev/null

# the OpenID Provider the SSO tests run against (tests/sso/idp: oidc-provider, pinned by its lock)
IDP    := tests/sso/idp
IDP_OK := $(IDP)/node_modules/.installed-$(shell cat $(IDP)/package-lock.json 2>/dev/null | sha1sum | cut -c1-12)

$(IDP_OK):
	@command -v node >/dev/null && command -v npm >/dev/null || \
		(apt-get update -q >/dev/null && apt-get install -y -q nodejs npm >/dev/null) || \
		(sudo apt-get update -q >/dev/null && sudo apt-get install -y -q nodejs npm >/dev/null)
	cd $(IDP) && npm ci --no-audit --no-fund --loglevel=error
	@rm -f $(IDP)/node_modules/.installed-*
	@touch $@

# the scale-out tests (tests/scale) run their own pgbouncer binary in transaction pooling mode
# with their own ini on a free loopback port; they never use the package's system service
PGBOUNCER_APT := apt-get install -y -q --no-install-recommends pgbouncer >/dev/null
install: $(STAMP) $(IDP_OK)
	@command -v chromium >/dev/null || $(CHROMIUM_APT) 2>/dev/null || \
		(apt-get update -q >/dev/null && $(CHROMIUM_APT)) || sudo $(CHROMIUM_APT)
	@test -x /usr/sbin/pgbouncer || command -v pgbouncer >/dev/null || $(PGBOUNCER_APT) 2>/dev/null || \
		(apt-get update -q >/dev/null && $(PGBOUNCER_APT)) || sudo $(PGBOUNCER_APT)

## run: the whole service (embedded PostgreSQL, migrations, worker, demo tenant) on :8000
run: install
	$(BIN)/drift-cloud serve

## test: the whole suite against a real (embedded) PostgreSQL
test: install
	$(BIN)/python -m pytest

## test-external: the tenant-isolation tests against an existing server (PGURL, a superuser)
test-external: install
	DRIFT_TEST_DATABASE_URL=$(PGURL) $(BIN)/python -m pytest -m isolation

## lint: ruff, mypy strict, and the dead-code guard (vulture over app/, see scripts/deadcode.py)
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python scripts/deadcode.py

## bench: load scenarios against the running service vs a raw asyncpg baseline
bench: install
	@command -v wrk >/dev/null || (apt-get install -y -q wrk >/dev/null 2>&1 || sudo apt-get install -y -q wrk)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .drift-bench
