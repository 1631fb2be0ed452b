# Nubes: the README's commands. `make run` serves the embedded default; `make test` runs everything.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
DATA ?= ../shared/data/planetlab

.PHONY: run test test-fast test-postgres test-fleet lab lab-down lab-status lab-fleet fleet-down bench clean-venv check static-deps

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.run-installed: requirements.txt | $(BIN)/python
	tools/system-packages.sh build
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(BIN)/python
	tools/system-packages.sh build
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@ $(VENV)/.run-installed

# Browser libraries from npm (static/package.json; noVNC for the graphical console), reinstalled
# when the lock changes. Without npm, or offline, the portal runs and the console page says so.
NOVNC_STAMP := static/node_modules/.nubes-installed
ifeq ($(shell command -v npm 2>/dev/null),)
static-deps:
	@echo "npm (Node.js) not found: the graphical console (noVNC) needs it; the rest of the portal runs without."
else
static-deps: $(NOVNC_STAMP)
$(NOVNC_STAMP): static/package.json static/package-lock.json
	@npm ci --prefix static --no-audit --no-fund && touch $@ \
	  || echo "npm ci failed: the graphical console (noVNC) stays unavailable; the rest of the portal runs."
endif

# As root, ovn-central is installed for the embedded default's own OVN Northbound; without it
# (not root) the portal runs on libvirt networks and says why.
run: $(VENV)/.run-installed static-deps
	-@tools/system-packages.sh run
	$(BIN)/python manage.py migrate --noinput -v 0
	$(BIN)/python manage.py seed_demo --if-no-real-hosts
	$(BIN)/python manage.py runportal --host $(HOST) --port $(PORT)

# Fast static checks (seconds): formatting, lint, the import contracts in pyproject.toml
# (docs/architecture.md), Django's system checks. CI runs them before the tests.
check: $(VENV)/.dev-installed
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/python manage.py check

# The whole suite: unit, API, websocket, browser, integration (lab) and fleet tests. As root
# without a lab, tools/test.sh brings the lab (then the fleet) up for their tiers and down after.
test: $(VENV)/.dev-installed static-deps
	-tools/system-packages.sh browser
	-tools/system-packages.sh test
	tools/test.sh

test-fast: $(VENV)/.dev-installed
	$(BIN)/python -m pytest -m "not integration and not browser and not fleet and not clients"

# The suite again on the production components already running on the machine (PostgreSQL,
# Redis). The lab tier and the browser tests are left out here: they exercise real daemons and a
# browser, not the database or broker, and the browser's (and the OpenStack clients') portal runs
# the embedded default anyway; so are the plain-Python packages that never touch either (the
# libvirt gateway, the scheduler core), and the first-run test (it runs `make run`'s commands on
# the embedded default, like the browser's portal). Its own data directory (image store, keys):
# CI runs it beside `make test`, whose image files would otherwise share names with its own.
test-postgres: $(VENV)/.dev-installed
	NUBES_DATA_DIR=$${NUBES_DATA_DIR:-$(CURDIR)/var/test-postgres} \
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/nubes} \
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/0} \
	$(BIN)/python -m pytest -m "not integration and not browser and not fleet and not clients" \
		--ignore=tests/hypervisor --ignore=tests/scheduler/core --ignore=tests/lab \
		--ignore=tests/portal/test_first_run.py

# The lab, then registered in the portal's database (the one `make run` serves): only the lab
# (and a cloud admin if there is none) with its provider network as an external network, never
# the demo's simulated hosts and tenants.
lab: $(VENV)/.run-installed
	lab/up.sh
	$(BIN)/python manage.py migrate --noinput -v 0
	$(BIN)/python manage.py lab_register --provider-network

lab-down:
	lab/down.sh

# The portal on the lab as the README's production section runs it (after `make lab`): its own
# PostgreSQL database and Redis db, uvicorn with 2 workers, beat, two Celery workers (one in
# host B's network namespace). `make fleet-down` (and `make lab-down`) stop it.
lab-fleet: $(VENV)/.run-installed
	lab/fleet-up.sh

fleet-down:
	lab/fleet-down.sh

# The fleet tier alone (make test runs it too when the fleet is up).
test-fleet: $(VENV)/.dev-installed
	$(BIN)/python -m pytest tests/fleet --durations=5

lab-status:
	lab/status.sh

# Every benchmark prints its figures; the lab ones say so and measure nothing when the lab is down.
BENCHES := api_list instance_page compute_ops login scheduler_scale storage_ops network_ops metrics metrics_scale migration storage_pools_lab openstack_api lab_boot fleet load
bench: $(VENV)/.dev-installed
	@for b in $(BENCHES); do \
	  [ -f bench/$$b.py ] && { echo "== bench/$$b.py"; $(BIN)/python bench/$$b.py || exit 1; }; done; true
	@echo "== bench/planetlab_sim.py $(DATA)"; $(BIN)/python bench/planetlab_sim.py --data $(DATA)
	@echo "== bench/planetlab_sim.py --equal-terms $(DATA)"; $(BIN)/python bench/planetlab_sim.py --equal-terms --data $(DATA)

clean-venv:
	rm -rf $(VENV)
