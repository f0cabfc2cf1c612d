# Tri-Protocol Playlists. `make demo` and `make test` do all set-up on a fresh machine.
PYTHON_BASE ?= python3.11
VENV        := .venv
PY          := $(VENV)/bin/python
export PLAYLISTS_HOME ?= $(CURDIR)/.demo

.PHONY: help setup demo serve test wsdl clean

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

demo: setup  ## start the servers, run the side-by-side tour, stop them
	$(PY) -m serve --demo

serve: setup  ## the three servers in the foreground, one log stream (Ctrl-C stops all)
	$(PY) -m serve

test: setup  ## the whole test suite
	$(PY) -m pytest -q -rs tests

wsdl: setup  ## refresh wsdl/ from what the SOAP server serves
	$(PY) -m soap --write-wsdl wsdl/playlists.wsdl

clean:  ## remove the venv, generated stubs and $(PLAYLISTS_HOME)
	rm -rf $(VENV) gen .demo
