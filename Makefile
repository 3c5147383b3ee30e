# The commands of the README. `make demo` and `make test` install what they need first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?= -q

.PHONY: install browser loadgen demo test test-fast test-sqlite test-postgres lint format bench clean openapi

# The browser tests drive Debian's Chromium (never a browser download); installed once, quietly.
CHROMIUM := /usr/bin/chromium

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

install: $(STAMP) browser loadgen

browser:
	@test -x $(CHROMIUM) || { \
		echo "installing Debian's chromium for the browser tests"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 || { \
			apt-get update -qq >/dev/null && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; }
	@test -x $(CHROMIUM) || { echo "$(CHROMIUM) is missing: apt-get install chromium" >&2; exit 1; }
	@# A Chinese font, so the screenshots of zh-Hans and zh-Hant pages show their text.
	@fc-list :lang=zh 2>/dev/null | grep -q . || { \
		echo "installing a Chinese font for the browser screenshots"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei >/dev/null 2>&1 || { \
			apt-get update -qq >/dev/null && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei >/dev/null; } \
		|| echo "no Chinese font could be installed: Chinese screenshots show boxes" >&2; }

# The benches drive the hub over HTTP with Debian's wrk (a C load generator with Lua scripts),
# so that the load generator's own cost does not dominate what they measure.
WRK := /usr/bin/wrk

loadgen:
	@test -x $(WRK) || { \
		echo "installing Debian's wrk for the benches"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1 || { \
			apt-get update -qq >/dev/null && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }; }
	@test -x $(WRK) || { echo "$(WRK) is missing: apt-get install wrk" >&2; exit 1; }

demo: install
	$(BIN)/cityhub demo

test: install
	$(MAKE) --no-print-directory test-sqlite
	@if $(BIN)/python -m tests.postgres_available; then \
		$(MAKE) --no-print-directory test-postgres; \
	elif [ -n "$$CITYHUB_TEST_REQUIRE_POSTGRES" ]; then \
		echo "PostgreSQL is required (CITYHUB_TEST_REQUIRE_POSTGRES) but does not answer" >&2; exit 1; \
	else \
		echo "PostgreSQL does not answer on 127.0.0.1:5432: the suite ran on SQLite only"; \
	fi

# The inner loop: the suite without the tests marked slow, on SQLite.
test-fast: install
	$(BIN)/pytest $(PYTEST_ARGS) --db sqlite -m "not slow" || [ $$? -eq 5 ]

# pytest exits 5 when it collected no test: that is not a failure of the suite.
test-sqlite: install
	$(BIN)/pytest $(PYTEST_ARGS) --db sqlite || [ $$? -eq 5 ]

test-postgres: install
	$(BIN)/pytest $(PYTEST_ARGS) --db postgres || [ $$? -eq 5 ]

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

bench: install
	@for script in bench/*.py; do \
		[ -e "$$script" ] || continue; \
		echo "== $$script"; \
		$(BIN)/python "$$script" || exit 1; \
	done

# The API's description, as the hub serves it, into the committed openapi.json (a test compares).
openapi: install
	$(BIN)/cityhub openapi

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
