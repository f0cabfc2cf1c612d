# Tri-Protocol Playlists. `make demo` and `make test` do all set-up on a fresh machine.
# PYTHON picks the interpreter (`make demo PYTHON=python3.12`); left out, the newest of
# python3.13, python3.12 and python3.11 that runs here.
SUPPORTED := 3.13 3.12 3.11
ifndef PYTHON
PYTHON := $(firstword $(foreach v,$(SUPPORTED),$(shell python$(v) -c '' >/dev/null 2>&1 && echo python$(v))))
endif
PYTHON_VERSION := $(if $(PYTHON),$(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null))
VENV    ?= .venv
PY      := $(VENV)/bin/python
RUNTIME := $(VENV)/.runtime-$(PYTHON_VERSION)
DEV     := $(VENV)/.dev-$(PYTHON_VERSION)
TESTS   ?= tests
export PLAYLISTS_HOME ?= $(CURDIR)/.demo

.PHONY: help setup demo serve class test wsdl attacks bench soak interop clean

help:  ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'
	@echo "  (PYTHON=python3.12 picks the interpreter; the PLAYLISTS_*_PORT variables move the servers: see README)"

# The runtime only: the servers, the clients, and grpcio-tools to generate the stubs. A venv
# belongs to one interpreter: another PYTHON makes it anew.
$(RUNTIME): requirements.txt requirements-build.txt
	@if [ -z "$(PYTHON_VERSION)" ]; then echo "No Python 3.13, 3.12 or 3.11 found$(if $(PYTHON), ($(PYTHON) does not run)): install python3.13, or name one: make demo PYTHON=/path/to/python3.x"; exit 1; fi
	@case " $(SUPPORTED) " in *" $(PYTHON_VERSION) "*) ;; *) echo "$(PYTHON) is Python $(PYTHON_VERSION); this project runs on 3.11, 3.12 and 3.13: make demo PYTHON=python3.13"; exit 1;; esac
	@if [ -x $(PY) ] && [ "$$($(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])')" != "$(PYTHON_VERSION)" ]; then \
		echo "$(VENV) was made for another Python: making it anew for $(PYTHON_VERSION)"; rm -rf $(VENV); fi
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); echo "$(PYTHON) cannot make a venv: install its venv module (Debian, Ubuntu: apt install python$(PYTHON_VERSION)-venv)"; exit 1; }
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-build.txt
	touch $@

# The tools of `make test` and `make bench`, on top.
$(DEV): $(RUNTIME) requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# The gRPC stubs are generated from the proto, never edited; a .pth file makes the
# `playlist.v1` package importable from the venv wherever a program starts.
gen/.stamp: $(RUNTIME) $(wildcard protos/playlist/v1/*.proto)
	rm -rf gen && mkdir -p gen
	$(PY) -m grpc_tools.protoc -Iprotos --python_out=gen --pyi_out=gen --grpc_python_out=gen \
		--include_source_info --include_imports --descriptor_set_out=gen/playlist.desc \
		$(wildcard protos/playlist/v1/*.proto)
	echo "$(CURDIR)/gen" > "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/playlists-gen.pth"
	touch $@

setup: $(RUNTIME) gen/.stamp  ## venv (runtime only), stubs, database, credentials and certificates
	$(PY) -m core.setup
	$(PY) -m clients.postman --environment

demo: setup  ## start the servers, run the side-by-side tour, stop them
	$(PY) -m serve --demo

serve: setup  ## the three servers in the foreground, one log stream (Ctrl-C stops all)
	$(PY) -m serve

SEATS ?= 24
class: setup  ## one server for a room, a sandbox per seat: make class SEATS=24 (README: "Running it for a class")
	$(PY) -m serve --class $(SEATS)

# The outside clients of the interop tests (node's soap, @grpc/grpc-js, buf), pinned by the
# lockfile in interop/. Without npm those tests skip and say how to install it.
interop/node_modules/.installed: interop/package.json interop/package-lock.json
	@if command -v npm >/dev/null; then npm ci --prefix interop --no-audit --no-fund && touch $@; \
	else echo "npm not found: the node interop tests will skip (apt-get install -y nodejs npm)"; fi

interop: interop/node_modules/.installed  ## the npm clients of the interop tests

test: setup $(DEV) interop  ## the whole test suite (TESTS=tests/test_x.py for some)
	$(PY) -m pytest -q -rs $(TESTS)

bench: setup $(DEV)  ## the three protocols side by side, each against its bare framework: about 5 min (bench/results/)
	$(PY) -m bench

soak: setup  ## 60 s of mixed and hostile traffic at concurrency 32; exit 0 only with no unexpected error
	$(PY) -m soak --seconds 60 --concurrency 32

# Servers already running on the configured ports (`make serve`) are attacked as they are,
# with $(PLAYLISTS_HOME)'s secrets; if only some are, it stops and says so. Otherwise it
# starts its own on a home of its own, fresh each time: the lockouts and rate counters one
# run leaves behind (as they should) would refuse the next run's demo users. Tokens live
# 3 s, so that the expired-token attack can wait for one to expire.
attacks: setup  ## run every attack against the running servers, or start, attack, stop (exit 0: all stopped)
	@$(PY) -m clients.attacks --running; case $$? in 0) exec $(PY) -m clients.attacks all;; 3) ;; *) exit 2;; esac; \
	export PLAYLISTS_HOME=$$(mktemp -d) PLAYLISTS_TOKEN_SECONDS=3; \
	$(PY) -m core.setup > /dev/null || exit 1; \
	$(PY) -m serve > $$PLAYLISTS_HOME/serve.log 2>&1 & serve=$$!; \
	until grep -qs "start here" $$PLAYLISTS_HOME/serve.log || ! kill -0 $$serve 2>/dev/null; do sleep 0.1; done; \
	if ! kill -0 $$serve 2>/dev/null; then tail -n 15 $$PLAYLISTS_HOME/serve.log; exit 1; fi; \
	$(PY) -m clients.attacks all --wait 30; code=$$?; \
	kill $$serve; wait $$serve; \
	if [ $$code = 0 ]; then rm -rf $$PLAYLISTS_HOME; else echo "the servers' log: $$PLAYLISTS_HOME/serve.log"; fi; \
	exit $$code

wsdl: setup  ## refresh wsdl/ from what the SOAP server serves
	$(PY) -m soap --write-wsdl wsdl/playlists.wsdl

clean:  ## remove the venv, generated stubs, node modules and .demo/
	rm -rf $(VENV) gen .demo interop/node_modules
