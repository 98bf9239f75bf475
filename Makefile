# Mamori — the two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PO     := $(wildcard app/translations/*/LC_MESSAGES/messages.po)
MO     := $(PO:.po=.mo)

.PHONY: run test install system browser docker images setup serve catalogs translations bench clean

## make run: install, make sure Docker answers, build images, set up the database, serve.
run: install system docker images setup
	$(BIN)/mamori serve

## make test: the whole test suite (starts Docker and builds images first), on TEST_WORKERS
## pytest-xdist workers: most tests wait on containers, so three share two cores well.
TEST_WORKERS ?= 3
test: install browser docker images
	$(BIN)/pytest -n $(TEST_WORKERS)

install: $(STAMP) $(MO)

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[test]'
	touch $(STAMP)

# Catalogs are compiled by the build, never committed as binaries.
app/translations/%/LC_MESSAGES/messages.mo: app/translations/%/LC_MESSAGES/messages.po $(STAMP)
	$(BIN)/pybabel compile --statistics -i $< -o $@

catalogs: $(MO)

## make translations: re-extract messages and update the catalogs after UI changes.
translations: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k N_ --no-location --sort-output \
		--project=Mamori -o app/translations/messages.pot .
	$(BIN)/pybabel update -i app/translations/messages.pot -d app/translations --no-fuzzy-matching

docker:
	@scripts/ensure-docker.sh

# Debian packages beside Python: Japanese fonts and Pango for PDFs; Chromium for the browser tests.
system:
	@scripts/ensure-system.sh

browser:
	@scripts/ensure-system.sh --browser

images: install docker
	$(BIN)/mamori images build

setup: install
	$(BIN)/mamori setup

serve: install
	$(BIN)/mamori serve

## make bench: provisioning 20 teams against a plain SDK loop, a scoring round of 20 teams × 10 checks
## against a `docker exec` per check, a disk-watchdog pass over 20 × 8 containers against `docker ps --size`, the scoreboard with 1,000,000 score events, and the portal pages
## with 30 teams and 100 trainees polling (locust against gunicorn on loopback)
## (BENCH_TEAMS=n for fewer teams, BENCH_DATABASE_URL=postgresql+psycopg://… for PostgreSQL too).
bench: install docker images
	$(BIN)/pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[test,bench]'
	$(BIN)/python bench/provision.py --teams $${BENCH_TEAMS:-20}
	$(BIN)/python bench/rounds.py --teams $${BENCH_TEAMS:-20}
	$(BIN)/python bench/diskwatch.py --teams $${BENCH_TEAMS:-20}
	$(BIN)/python bench/scoreboard.py
	if [ -n "$${BENCH_DATABASE_URL:-}" ]; then $(BIN)/python bench/scoreboard.py --database-url "$$BENCH_DATABASE_URL"; fi
	$(BIN)/python bench/portal.py
	if [ -n "$${BENCH_DATABASE_URL:-}" ]; then $(BIN)/python bench/portal.py --database-url "$$BENCH_DATABASE_URL"; fi

clean:
	rm -rf $(VENV) build *.egg-info
