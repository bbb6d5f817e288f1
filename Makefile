# PeaceHub: the regional peacekeeping hub.
#
# Rules:
#   make run      install what is missing, build the hub and its modules, create (once) a development
#                 PKI and a seeded registry under var/, start the hub on 127.0.0.1:8883
#   make test     the whole test suite (what CI runs)
#   make demo     a scripted scenario against the hub `make run` started (run it in another terminal)
#   make deps     install missing Debian and Python packages
#   make build    build the hub (debug)
#   make plugins  build every mission module and write its manifest into one plugins directory
#   make bench    release build, then the hub against mosquitto and nats-server side by side (never part of
#                 `make test`; BENCH=quick for a short run); results in .build/bench (docs/performance.md)
#   make clean    remove build products and local run data

SHELL := /bin/bash
SWIFT ?= swift
CC ?= cc

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BIN_DIR := $(CURDIR)/.build/debug
PEACEHUB := $(BIN_DIR)/peacehub
ABI_INCLUDE := $(CURDIR)/Sources/CPeaceHubABI/include

# The four mission modules, served by the hub.
PLUGINS_DIR ?= $(CURDIR)/.build/plugins
# The example Swift module and the C template, for module authors and the tests.
EXAMPLES_DIR ?= $(CURDIR)/.build/plugin-examples
MISSIONS := $(notdir $(wildcard $(addprefix Plugins/,UNIFIL UNFICYP UNMOGIP MINURSO)))

APT_PACKAGES := libssl-dev libsqlite3-dev pkg-config openssl binutils mosquitto-clients python3-pip
PIP_PACKAGES := paho-mqtt

.PHONY: deps build plugins test run demo bench bench-deps clean

# Copies the four mission modules built in $(1) into $(2), each with its data folder and its manifest written by
# the peacehub of $(1).
define mission_layout
	@mkdir -p $(2)
	@for mission in $(MISSIONS); do \
		id=org.peacehub.$$(echo $$mission | tr A-Z a-z); \
		cp $(1)/libPeaceHub$$mission.so $(2)/; \
		rm -rf $(2)/$$id.data && cp -r Plugins/$$mission/data $(2)/$$id.data; \
		$(1)/peacehub plugins manifest $(2)/libPeaceHub$$mission.so --id $$id --mission $$mission --data $$id.data; \
	done
endef

deps:
	@missing=""; \
	for package in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$package 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@python3 -c 'import paho.mqtt' 2>/dev/null || python3 -m pip install -q $(PIP_PACKAGES)
	@command -v rustc >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rustc; }

build:
	$(SWIFT) build

plugins: build
	$(call mission_layout,$(BIN_DIR),$(PLUGINS_DIR))
	@mkdir -p $(EXAMPLES_DIR)
	@cp $(BIN_DIR)/libPeaceHubExample.so $(EXAMPLES_DIR)/
	@$(PEACEHUB) plugins manifest $(EXAMPLES_DIR)/libPeaceHubExample.so --id org.peacehub.example --mission EXAMPLE
	$(CC) -std=c11 -shared -fPIC -O2 -fvisibility=hidden -Wall -Wextra -pedantic -Werror -I$(ABI_INCLUDE) \
		-Wl,--version-script=$(CURDIR)/Plugins/exports.map Plugins/template-c/template.c \
		-o $(EXAMPLES_DIR)/libpeacehub_template_c.so
	@$(PEACEHUB) plugins manifest $(EXAMPLES_DIR)/libpeacehub_template_c.so --id org.peacehub.template-c --mission TEMPLATE

test: deps plugins
	PEACEHUB_BIN_DIR=$(BIN_DIR) PEACEHUB_PLUGINS_DIR=$(PLUGINS_DIR) PEACEHUB_EXAMPLES_DIR=$(EXAMPLES_DIR) \
		$(SWIFT) test

# `make run` state: the development PKI, the seeded registry and the broker's store.
DATA_DIR ?= $(CURDIR)/var
PORT ?= 8883
CONTINGENTS := KAZ KGZ TJK UZB IND
HUB := PEACEHUB_DATA_DIR=$(DATA_DIR) PEACEHUB_PLUGINS_DIR=$(PLUGINS_DIR) $(PEACEHUB)
PKI := $(DATA_DIR)/pki

run: deps plugins
	@test -f $(PKI)/ca.pem || $(HUB) pki init
	@test -f $(PKI)/server/localhost.pem || $(HUB) pki issue-server --host localhost --host 127.0.0.1
	@for code in $(CONTINGENTS); do test -f $(PKI)/contingents/$$code.pem || $(HUB) pki issue --contingent $$code; done
	@test -f $(PKI)/operators/duty.pem || $(HUB) pki issue --operator duty
	@test -f $(DATA_DIR)/registry.sqlite || $(HUB) registry seed
	@echo
	@echo "Connect as KAZ (any MQTT client; certificates in $(PKI)):"
	@echo "  mosquitto_sub -h 127.0.0.1 -p $(PORT) --cafile $(PKI)/ca.pem --cert $(PKI)/contingents/KAZ.pem --key $(PKI)/contingents/KAZ.key -t contingents/KAZ/inbox -q 1 -v"
	@echo "  mosquitto_pub -h 127.0.0.1 -p $(PORT) --cafile $(PKI)/ca.pem --cert $(PKI)/contingents/IND.pem --key $(PKI)/contingents/IND.key -t contingents/KAZ/inbox -q 1 -m 'salem from IND'"
	@echo
	$(HUB) serve --host 127.0.0.1 --port $(PORT)

demo:
	python3 Tests/Demo/demo.py --port $(PORT) --data $(DATA_DIR) --peacehub $(PEACEHUB)

# `make bench`: the release hub with its modules over a bench data directory (PKI, seeded registry plus eleven
# contingents, so that sixteen have certificates and inboxes), then peacehub-bench runs every workload against it,
# mosquitto and nats-server.
BENCH ?= full
BENCH_DIR := $(CURDIR)/.build/bench
RELEASE_DIR := $(CURDIR)/.build/release
BENCH_HUB := PEACEHUB_DATA_DIR=$(BENCH_DIR)/data PEACEHUB_PLUGINS_DIR=$(BENCH_DIR)/plugins $(RELEASE_DIR)/peacehub
BENCH_PKI := $(BENCH_DIR)/data/pki
BENCH_EXTRA_CONTINGENTS := BGD:Bangladesh NPL:Nepal GHA:Ghana IDN:Indonesia FRA:France ITA:Italy ESP:Spain \
	MYS:Malaysia CHN:China IRL:Ireland KOR:Korea
BENCH_APT_PACKAGES := mosquitto nats-server

bench-deps: deps
	@missing=""; \
	for package in $(BENCH_APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$package 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

bench: bench-deps
	$(SWIFT) build -c release
	$(call mission_layout,$(RELEASE_DIR),$(BENCH_DIR)/plugins)
	@test -f $(BENCH_PKI)/ca.pem || $(BENCH_HUB) pki init
	@test -f $(BENCH_PKI)/server/localhost.pem || $(BENCH_HUB) pki issue-server --host localhost --host 127.0.0.1
	@for code in $(CONTINGENTS) $(foreach pair,$(BENCH_EXTRA_CONTINGENTS),$(firstword $(subst :, ,$(pair)))); do \
		test -f $(BENCH_PKI)/contingents/$$code.pem || $(BENCH_HUB) pki issue --contingent $$code; \
	done
	@test -f $(BENCH_DIR)/data/registry.sqlite || { \
		$(BENCH_HUB) registry seed && \
		for pair in $(BENCH_EXTRA_CONTINGENTS); do \
			$(BENCH_HUB) registry contingent add $${pair%%:*} --name $${pair#*:} --as operator:bench; \
		done; }
	ulimit -n $$(ulimit -Hn) && $(RELEASE_DIR)/peacehub-bench run --mode $(BENCH) --bench-dir $(BENCH_DIR) \
		--peacehub $(RELEASE_DIR)/peacehub

clean:
	rm -rf .build .build-* var
