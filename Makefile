# Tri-Protocol Playlists. `make demo` and `make test` do all set-up on a fresh machine.
PYTHON_BASE ?= python3.11
VENV        := .venv
PY          := $(VENV)/bin/python
export PLAYLISTS_HOME ?= $(CURDIR)/.demo

.PHONY: help setup demo serve test wsdl attacks bench soak interop clean

help:  ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON_BASE) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

# The gRPC stubs are generated from the proto, never edited; a .pth file makes the
# `playlist.v1` package importable from the venv wherever a program starts.
gen/.stamp: $(VENV)/.installed $(wildcard protos/playlist/v1/*.proto)
	rm -rf gen && mkdir -p gen
	$(PY) -m grpc_tools.protoc -Iprotos --python_out=gen --pyi_out=gen --grpc_python_out=gen \
		--include_source_info --include_imports --descriptor_set_out=gen/playlist.desc \
		$(wildcard protos/playlist/v1/*.proto)
	echo "$(CURDIR)/gen" > "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/playlists-gen.pth"
	touch $@

setup: $(VENV)/.installed gen/.stamp  ## venv, stubs, database, credentials and certificates
	$(PY) -m core.setup
	$(PY) -m clients.postman --environment

demo: setup  ## start the servers, run the side-by-side tour, stop them
	$(PY) -m serve --demo

serve: setup  ## the three servers in the foreground, one log stream (Ctrl-C stops all)
	$(PY) -m serve

# The outside clients of the interop tests (node's soap, @grpc/grpc-js, buf), pinned by the
# lockfile in interop/. Without npm those tests skip and say how to install it.
interop/node_modules/.installed: interop/package.json interop/package-lock.json
	@if command -v npm >/dev/null; then npm ci --prefix interop --no-audit --no-fund && touch $@; \
	else echo "npm not found: the node interop tests will skip (apt-get install -y nodejs npm)"; fi

interop: interop/node_modules/.installed  ## the npm clients of the interop tests

test: setup interop  ## the whole test suite
	$(PY) -m pytest -q -rs tests

bench: setup  ## the three protocols side by side, each against its bare framework (bench/results/)
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
	$(PY) -m clients.attacks all --wait 30; code=$$?; \
	kill $$serve; wait $$serve; \
	if [ $$code = 0 ]; then rm -rf $$PLAYLISTS_HOME; else echo "the servers' log: $$PLAYLISTS_HOME/serve.log"; fi; \
	exit $$code

wsdl: setup  ## refresh wsdl/ from what the SOAP server serves
	$(PY) -m soap --write-wsdl wsdl/playlists.wsdl

clean:  ## remove the venv, generated stubs, node modules and $(PLAYLISTS_HOME)
	rm -rf $(VENV) gen .demo interop/node_modules
