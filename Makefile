# Two commands for a new user: `make demo` (set up, then run the main job end to end on the
# embedded default) and `make test` (set up, then lint, check layer contracts and run the tests).
# Both create .venv on first use and are fast when it is already up to date.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.edgekit-installed
DEMO   ?= build/demo

.PHONY: demo test setup lint broker clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[train,export,demo,dev]'
	@touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/edgekit demo $(DEMO)

lint: $(STAMP)
	$(BIN)/ruff check edgekit tests $(wildcard benchmarks)
	$(BIN)/lint-imports

# The MQTT sink's tests start a real broker on loopback (Debian's mosquitto), never a mock. A fresh
# Debian CI machine lacks it: install it there, only when it is missing and we are root (apt needs
# root; a developer's machine is left alone). Without it those tests skip and name the package.
# Debian puts the binary in /usr/sbin, which is often not on a user's PATH.
broker:
	@command -v mosquitto >/dev/null || test -x /usr/sbin/mosquitto || \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mosquitto; \
	  else \
	    echo "note: mosquitto is missing (apt-get install mosquitto): the MQTT tests will skip"; \
	  fi

test: lint broker
	$(BIN)/python -m pytest

clean:
	rm -rf build
