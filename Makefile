# Nubes: the README's commands. `make run` serves the embedded default; `make test` runs everything.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
DATA ?= ../shared/data/planetlab

.PHONY: run test test-fast test-postgres lab lab-down lab-status bench clean-venv check

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

run: $(VENV)/.run-installed
	$(BIN)/python manage.py migrate --noinput -v 0
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py runportal --host $(HOST) --port $(PORT)

check: $(VENV)/.dev-installed
	$(BIN)/python manage.py check

# The whole suite: unit, API, websocket, browser and (when the lab is up) integration tests.
test: $(VENV)/.dev-installed
	-tools/system-packages.sh browser
	$(BIN)/python -m pytest

test-fast: $(VENV)/.dev-installed
	$(BIN)/python -m pytest -m "not integration and not browser"

# The same suite against the production components already running on the machine.
test-postgres:
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/nubes} \
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/0} $(MAKE) test

# The lab, then registered in the portal's database (the one `make run` serves).
lab: $(VENV)/.run-installed
	lab/up.sh
	$(BIN)/python manage.py migrate --noinput -v 0
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py lab_register

lab-down:
	lab/down.sh

lab-status:
	lab/status.sh

# Every benchmark prints its figures; the lab ones say so and measure nothing when the lab is down.
BENCHES := api_list compute_ops scheduler_scale storage_ops network_ops metrics migration lab_boot
bench: $(VENV)/.dev-installed
	@for b in $(BENCHES); do \
	  [ -f bench/$$b.py ] && { echo "== bench/$$b.py"; $(BIN)/python bench/$$b.py || exit 1; }; done; true
	@echo "== bench/planetlab_sim.py $(DATA)"; $(BIN)/python bench/planetlab_sim.py --data $(DATA)

clean-venv:
	rm -rf $(VENV)
