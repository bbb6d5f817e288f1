# PeaceHub: the regional peacekeeping hub.
#
# Rules:
#   make run      install what is missing, build the hub and its modules, create (once) a development
#                 PKI and a seeded registry under var/, start the hub on 127.0.0.1:8883 (MQTT), 8884 (admin
#                 API, HTTPS with mutual TLS) and 9883 (monitoring)
#   make test     the whole test suite (what CI runs)
#   make demo     a scripted scenario against the hub `make run` started (run it in another terminal)
#   make deps     install missing Debian and Python packages
#   make build    build the hub (debug)
#   make plugins  build every mission module and write its manifest into one plugins directory
#   make install  lay out a release under $(DESTDIR)$(PREFIX): the binary, the mission modules, the default
#                 configuration, the systemd unit and the data directory (CONFIGURATION=debug: a debug build)
#   make bench    release build, then the hub against mosquitto and nats-server side by side (never part of
#                 `make test`; BENCH=quick for a short run); results in .build/bench (docs/performance.md)
#   make callgrind  the instructions the release hub spends on one `peacehub-bench flow` (CALLGRIND_FLOW),
#                 counted by valgrind's callgrind; the profile in .build/callgrind
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

APT_PACKAGES := libssl-dev libsqlite3-dev libjemalloc-dev pkg-config openssl binutils mosquitto-clients python3-pip curl
# PyPI packages and the modules they provide (paho-mqtt for MQTT scenarios; prometheus-client, openapi-spec-validator,
# openapi-schema-validator and PyYAML to check /metrics and the admin API against docs/admin-api.yaml).
PIP_PACKAGES := paho-mqtt prometheus-client openapi-spec-validator openapi-schema-validator pyyaml
PIP_MODULES := paho.mqtt, prometheus_client, openapi_spec_validator, openapi_schema_validator, yaml

.PHONY: deps build plugins test run demo install bench bench-deps bench-setup callgrind clean

deps:
	@missing=""; \
	for package in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$package 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@python3 -c 'import $(PIP_MODULES)' 2>/dev/null || python3 -m pip install -q $(PIP_PACKAGES)
	@command -v rustc >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rustc; }

build:
	$(SWIFT) build

# $(call mission_plugins,BUILD_DIR,DEST): the four mission modules built in BUILD_DIR laid out in DEST, each
# library with its data folder and the manifest BUILD_DIR's peacehub writes (names relative to DEST).
define mission_plugins
	@mkdir -p $(2)
	@for mission in $(MISSIONS); do \
		id=org.peacehub.$$(echo $$mission | tr A-Z a-z); \
		cp $(1)/libPeaceHub$$mission.so $(2)/; \
		rm -rf $(2)/$$id.data && cp -r Plugins/$$mission/data $(2)/$$id.data; \
		$(1)/peacehub plugins manifest $(2)/libPeaceHub$$mission.so --id $$id --mission $$mission --data $$id.data; \
	done
endef

plugins: build
	$(call mission_plugins,$(BIN_DIR),$(PLUGINS_DIR))
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
ADMIN_PORT ?= 8884
MONITORING_PORT ?= 9883
CONTINGENTS := KAZ KGZ TJK UZB IND
HUB := PEACEHUB_DATA_DIR=$(DATA_DIR) PEACEHUB_PLUGINS_DIR=$(PLUGINS_DIR) $(PEACEHUB)
PKI := $(DATA_DIR)/pki
OPERATOR_TLS := --cacert $(PKI)/ca.pem --cert $(PKI)/operators/duty.pem --key $(PKI)/operators/duty.key

run: deps plugins
	@test -f $(PKI)/ca.pem || $(HUB) pki init
	@test -f $(PKI)/server/localhost.pem || $(HUB) pki issue-server --host localhost --host 127.0.0.1
	@for code in $(CONTINGENTS); do test -f $(PKI)/contingents/$$code.pem || $(HUB) pki issue --contingent $$code; done
	@test -f $(PKI)/operators/duty.pem || $(HUB) pki issue --operator duty
	@test -f $(DATA_DIR)/registry.sqlite || $(HUB) registry seed
	@# The modules where a command run from the checkout (data directory ./var) looks for them.
	@test -e $(DATA_DIR)/plugins || ln -s $(PLUGINS_DIR) $(DATA_DIR)/plugins
	@echo
	@echo "Connect as KAZ (any MQTT client; certificates in $(PKI)):"
	@echo "  mosquitto_sub -h 127.0.0.1 -p $(PORT) --cafile $(PKI)/ca.pem --cert $(PKI)/contingents/KAZ.pem --key $(PKI)/contingents/KAZ.key -t contingents/KAZ/inbox -q 1 -v"
	@echo "  mosquitto_pub -h 127.0.0.1 -p $(PORT) --cafile $(PKI)/ca.pem --cert $(PKI)/contingents/IND.pem --key $(PKI)/contingents/IND.key -t contingents/KAZ/inbox -q 1 -m 'salem from IND'"
	@echo
	@echo "The admin API (docs/admin-api.md) as the operator duty:"
	@echo "  curl $(OPERATOR_TLS) 'https://127.0.0.1:$(ADMIN_PORT)/persons?contingent=KAZ&limit=5'"
	@echo "Monitoring: curl http://127.0.0.1:$(MONITORING_PORT)/ready"
	@echo
	PEACEHUB_ADMIN_PORT=$(ADMIN_PORT) PEACEHUB_MONITORING_PORT=$(MONITORING_PORT) $(HUB) serve --host 127.0.0.1 --port $(PORT)

demo:
	python3 Tests/Demo/demo.py --port $(PORT) --data $(DATA_DIR) --plugins $(PLUGINS_DIR) --peacehub $(PEACEHUB)

# `make install`: PREFIX=/usr/local by default, DESTDIR for packaging; CONFIGURATION=debug skips the release build.
PREFIX ?= /usr/local
DESTDIR ?=
CONFIGURATION ?= release
ROOT := $(DESTDIR)$(PREFIX)

install:
	$(SWIFT) build -c $(CONFIGURATION)
	install -d $(ROOT)/bin $(ROOT)/etc/peacehub $(ROOT)/lib/systemd/system
	install -d -m 0750 $(ROOT)/var/lib/peacehub
	install -m 0755 .build/$(CONFIGURATION)/peacehub $(ROOT)/bin/peacehub
	$(call mission_plugins,$(CURDIR)/.build/$(CONFIGURATION),$(ROOT)/lib/peacehub/plugins)
	@# Where a command run with PEACEHUB_DATA_DIR set to the data directory looks for the modules.
	@test -e $(ROOT)/var/lib/peacehub/plugins || ln -s ../../../lib/peacehub/plugins $(ROOT)/var/lib/peacehub/plugins
	@# The example configuration with the installed folders; an existing file is the operator's and stays.
	@if [ -e $(ROOT)/etc/peacehub/peacehub.json ]; then \
		echo "kept $(ROOT)/etc/peacehub/peacehub.json"; \
	else \
		sed -e 's|"dataDirectory": "var"|"dataDirectory": "$(PREFIX)/var/lib/peacehub"|' \
			-e 's|"pluginsDirectory": null|"pluginsDirectory": "$(PREFIX)/lib/peacehub/plugins"|' \
			docs/peacehub.example.json > $(ROOT)/etc/peacehub/peacehub.json; \
		chmod 0644 $(ROOT)/etc/peacehub/peacehub.json; \
	fi
	sed -e 's|/usr/local|$(PREFIX)|g' docs/peacehub.service > $(ROOT)/lib/systemd/system/peacehub.service
	@echo "installed under $(ROOT); see docs/operations.md, \"Running under systemd\""

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

# The release build with its modules, and the bench's data directory: PKI, then a new seeded registry.
bench-setup: bench-deps
	$(SWIFT) build -c release
	$(call mission_plugins,$(RELEASE_DIR),$(BENCH_DIR)/plugins)
	@# A PKI made before P-256 became `pki`'s default has Ed25519 keys, which change every server's handshake and
	@# memory numbers (docs/performance.md, item 34): made again, so that every run measures the same keys.
	@if [ -f $(BENCH_PKI)/ca.pem ] && openssl x509 -in $(BENCH_PKI)/ca.pem -noout -text | grep -q "ED25519"; then \
		echo "the bench's PKI has Ed25519 keys: making a P-256 one"; rm -rf $(BENCH_PKI) $(BENCH_DIR)/data/crl-numbers.json; \
	fi
	@test -f $(BENCH_PKI)/ca.pem || $(BENCH_HUB) pki init
	@test -f $(BENCH_PKI)/server/localhost.pem || $(BENCH_HUB) pki issue-server --host localhost --host 127.0.0.1
	@for code in $(CONTINGENTS) $(foreach pair,$(BENCH_EXTRA_CONTINGENTS),$(firstword $(subst :, ,$(pair)))); do \
		test -f $(BENCH_PKI)/contingents/$$code.pem || $(BENCH_HUB) pki issue --contingent $$code; \
	done
	@# A new registry each run: the reports a run archives piled up (1.1 GB after thirty runs).
	@rm -f $(BENCH_DIR)/data/registry.sqlite $(BENCH_DIR)/data/registry.sqlite-wal $(BENCH_DIR)/data/registry.sqlite-shm
	@$(BENCH_HUB) registry seed && \
		for pair in $(BENCH_EXTRA_CONTINGENTS); do \
			$(BENCH_HUB) registry contingent add $${pair%%:*} --name $${pair#*:} --as operator:bench; \
		done

bench: bench-setup
	ulimit -n $$(ulimit -Hn) && $(RELEASE_DIR)/peacehub-bench run --mode $(BENCH) --bench-dir $(BENCH_DIR) \
		--peacehub $(RELEASE_DIR)/peacehub

# `make callgrind`: the instructions the release hub spends on one workload, counted by valgrind's callgrind (this VM
# has no hardware counters for `perf stat`). The hub runs under callgrind over the bench's data directory, the count
# starts once it listens, `peacehub-bench flow $(CALLGRIND_FLOW)` runs against it, and the profile of that flow is
# left in $(CALLGRIND_DIR)/callgrind.out.1 for callgrind_annotate. Under valgrind the hub runs about fifty times
# slower: give the flow a rate it keeps up with. The count includes the flow's connections and subscriptions; for one
# message alone, take the difference of two durations (docs/performance.md, item 33). Never part of `make test`.
CALLGRIND_DIR := $(CURDIR)/.build/callgrind
CALLGRIND_FLOW ?= --scenario 1to1 --payload 64 --qos 1 --rate 200 --duration 5

callgrind: bench-setup
	@command -v valgrind >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind; }
	@rm -rf $(CALLGRIND_DIR) && mkdir -p $(CALLGRIND_DIR)
	$(CC) -O2 -shared -fPIC -o $(CALLGRIND_DIR)/libsigsuspend.so Sources/PeaceHubBench/valgrind-sigsuspend.c
	@# valgrind 3.19 cannot read the DWARF 5 that Swift 6 writes: a copy without debug information, symbols kept.
	objcopy --strip-debug $(RELEASE_DIR)/peacehub $(CALLGRIND_DIR)/peacehub
	@rm -f $(BENCH_DIR)/data/broker.sqlite $(BENCH_DIR)/data/broker.sqlite-wal $(BENCH_DIR)/data/broker.sqlite-shm
	@set -o pipefail; port=$$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'); \
	printf '{"dataDirectory": "%s", "pluginsDirectory": "%s", "admin": {"enabled": false}, "monitoring": {"enabled": false}, "mqtt": {"host": "127.0.0.1", "port": %s}}\n' \
		"$(BENCH_DIR)/data" "$(BENCH_DIR)/plugins" $$port > $(CALLGRIND_DIR)/hub.json; \
	LD_PRELOAD=$(CALLGRIND_DIR)/libsigsuspend.so valgrind --tool=callgrind --soname-synonyms=somalloc=*jemalloc* \
		--callgrind-out-file=$(CALLGRIND_DIR)/callgrind.out --dump-instr=no \
		$(CALLGRIND_DIR)/peacehub serve --config $(CALLGRIND_DIR)/hub.json > $(CALLGRIND_DIR)/hub.log 2>&1 & hub=$$!; \
	trap 'kill $$hub 2>/dev/null' EXIT; \
	for i in $$(seq 600); do (echo > /dev/tcp/127.0.0.1/$$port) 2>/dev/null && break; \
		kill -0 $$hub 2>/dev/null || { cat $(CALLGRIND_DIR)/hub.log; exit 1; }; sleep 0.5; done; \
	callgrind_control --zero $$hub > /dev/null 2>&1 && \
	$(RELEASE_DIR)/peacehub-bench flow --port $$port --pid $$hub --pki $(BENCH_PKI) $(CALLGRIND_FLOW) \
		| tee $(CALLGRIND_DIR)/flow.txt && \
	callgrind_control --dump $$hub > /dev/null 2>&1 && \
	delivered=$$(awk '/^ *delivered:/ {print $$2}' $(CALLGRIND_DIR)/flow.txt) && \
	instructions=$$(awk '/^summary:/ {print $$2}' $(CALLGRIND_DIR)/callgrind.out.1) && \
	echo "the hub: $$instructions instructions for $$delivered deliveries, $$((instructions / delivered)) each" \
		"(connections and subscriptions included); profile: callgrind_annotate $(CALLGRIND_DIR)/callgrind.out.1"

clean:
	rm -rf .build .build-* var
