"""Every command the handout prints runs as printed, from a fresh shell at the repository's root.

The README (and docs/*.md), the exercises' goals and hints, and the --help of every program
follow one convention: `.venv/bin/python -m …`, never a bare `python -m` that needs an
activated venv. Shell blocks that call the servers run for real against the test servers,
moved there by the PLAYLISTS_*_PORT variables (curl's literal addresses are rewritten, nothing
else); a command that would start servers or run for minutes is dry-run instead: `make -n
TARGET`, or the program's own `--help` after the printed arguments.
"""
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from core.config import DEFAULT_HOST, DEFAULT_PORTS
from workshop.exercises import EXERCISES

from .conftest import TEST_ENV
from serve.launch import ROOT

HANDOUT = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BARE_PYTHON = re.compile(r"(?<![\w/.-])python3? -m ")
# The placeholders the texts use, and a value that parses where each one stands.
PLACEHOLDERS = {"PLAYLIST_ID": "pl_example", "SCENARIO": "all", "NAME": "bola", "N": "1", "MODULE": "serve"}
# Plain shell the blocks use around the commands checked here.
SHELL_WORDS = {"sleep", "export", "cd"}


def shell_blocks(path: Path) -> list[str]:
    return re.findall(r"^```(?:sh|bash|shell)\n(.*?)^```", path.read_text(), re.S | re.M)


def logical_lines(block: str) -> list[str]:
    """The block's commands: continuation lines joined, here-documents and comments left out."""
    lines, heredoc = [], None
    for line in block.replace("\\\n", " ").splitlines():
        if heredoc:
            heredoc = None if line.strip() == heredoc else heredoc
            continue
        ending = re.search(r"<<-?\s*'?(\w+)'?", line)
        heredoc = ending.group(1) if ending else None
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        command = []
        for word in [*lexer, ";"]:   # `a; b`, `a && b`, `a &` are two commands, or one
            if word.strip(";&|"):
                command.append(word)
            elif command:
                lines.append(shlex.join(command))
                command = []
    return lines


def inline_commands(path: Path) -> list[str]:
    return [span for span in re.findall(r"`([^`\n]+)`", path.read_text()) if "python" in span and " -m " in span]


def exercise_texts() -> list[tuple[str, str]]:
    return [(f"exercise {e.number}", text) for e in EXERCISES for text in (e.goal, *e.hints)]


def exercise_commands() -> list[tuple[str, str]]:
    """(where, command): the hints' four-space lines and every code span that is a command."""
    found = []
    for where, text in exercise_texts():
        candidates = [line.strip() for line in text.split("\n") if line.startswith("    ")]
        candidates += re.findall(r"`([^`]+)`", text)
        found += [(where, c) for c in candidates if re.match(r"(\w+=\S+ )*(make|curl|\.venv/bin/|bash|python)", c)]
    return found


def every_printed_text() -> list[tuple[str, str]]:
    return [(str(path.relative_to(ROOT)), path.read_text()) for path in HANDOUT] + exercise_texts()


def clean_env(**extra) -> dict:
    """A fresh shell's environment: no venv activated, nothing of this test run's Python on PATH."""
    keep = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "LC_ALL", "TERM", "PYENV_ROOT")}
    return {**keep, "PATH": "/usr/local/bin:/usr/bin:/bin", **extra}


def dry_run(command: str, home: Path) -> subprocess.CompletedProcess:
    """Check a command without running it: `make -n`, a program's --help after its arguments, a file that exists."""
    words = shlex.split(command)
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
        words.pop(0)   # PLAYLISTS_UNSAFE=bola make serve
    words = [PLACEHOLDERS.get(word, word) for word in words]
    env = clean_env(PLAYLISTS_HOME=str(home))
    if words[0] == "make":
        run = ["make", "-n", *words[1:]]
    elif words[0] == ".venv/bin/python" and words[1] == "-m":
        run = [*words, "--help"]
    elif words[0] in (".venv/bin/python", "bash") and words[1].startswith("workshop/solutions/"):
        run = ["test", "-f", words[1]]
    elif words[0] == ".venv/bin/pip":
        run = [".venv/bin/pip", "--version"]
    elif words[0] in SHELL_WORDS or words[0].startswith(".venv/bin/py-spy"):
        run = ["true"]   # plain shell, or the tool the line before installs
    else:
        pytest.fail(f"no way to check this command: {command}")
    return subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def needs_servers(block: str) -> bool:
    return bool(re.search(r"(^|\$\(|\s)curl |^eval ", block, re.M))


# --- one convention, everywhere a reader looks ------------------------------------------------------

@pytest.mark.parametrize("where,text", every_printed_text(), ids=lambda x: x if len(x) < 40 else "")
def test_no_text_prints_a_python_that_needs_an_activated_venv(where, text):
    assert not BARE_PYTHON.search(text), f"{where}: {BARE_PYTHON.search(text).group(0)!r} (write .venv/bin/python -m)"


def entry_points() -> list[str]:
    """Every program: a package with a __main__.py, or a module that runs as one."""
    found = []
    folders = [f for f in ROOT.iterdir() if f.is_dir() and not f.name.startswith(".")
               and f.name not in ("gen", "interop", "tests")]   # not a venv, the stubs or node's packages
    for path in sorted(path for folder in folders for path in folder.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if path.name == "__main__.py" or 'if __name__ == "__main__":' in path.read_text():
            found.append(".".join(parts[:-1] if path.name == "__main__.py" else parts))
    return sorted(set(found))


@pytest.mark.parametrize("module", entry_points())
def test_every_help_names_the_command_as_it_runs(module, home):
    shown = subprocess.run([".venv/bin/python", "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True,
                           env=clean_env(PLAYLISTS_HOME=str(home)), timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"usage: .venv/bin/python -m {module}"), shown.stdout[:200]
    assert not BARE_PYTHON.search(shown.stdout), shown.stdout


def test_make_help_lists_every_target_it_names():
    shown = subprocess.run(["make", "help"], cwd=ROOT, capture_output=True, text=True, env=clean_env(), timeout=60)
    targets = re.findall(r"^  make (\S+)", shown.stdout, re.M)
    assert shown.returncode == 0 and {"demo", "serve", "test", "setup", "attacks"} <= set(targets)
    for target in targets:
        assert subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, env=clean_env(),
                              timeout=60).returncode == 0, target


# --- the handout's shell blocks and python -m lines ----------------------------------------------------

def offline_commands() -> list[tuple[str, str]]:
    found = []
    for path in HANDOUT:
        name = str(path.relative_to(ROOT))
        found += [(name, line) for block in shell_blocks(path) if not needs_servers(block)
                  for line in logical_lines(block)]
        found += [(name, span) for span in inline_commands(path)]
    found += [(where, command) for where, command in exercise_commands() if not command.startswith("curl ")]
    return found


@pytest.mark.parametrize("where,command", offline_commands(), ids=lambda x: x[:60])
def test_every_command_that_starts_servers_or_runs_long_passes_a_dry_run(where, command, home):
    done = dry_run(command, home)
    assert done.returncode == 0, f"{where}: {command}\n{done.stdout[-1500:]}{done.stderr[-1500:]}"


@pytest.fixture(scope="module")
def fresh_shell(home, rest_server, soap_server, rpc_server, tmp_path_factory):
    """A shell at a copy of the repository's root (links to it) whose .demo is the test home, with
    the PLAYLISTS_*_PORT variables naming the test servers; curl's literal addresses are rewritten."""
    root = tmp_path_factory.mktemp("repo")
    for entry in ROOT.iterdir():
        if entry.name != ".demo":
            (root / entry.name).symlink_to(entry)
    (root / ".demo").symlink_to(home)
    ports = {"REST": rest_server.port, "REST_TLS": rest_server.tls_port, "SOAP": soap_server.port,
             "SOAP_TLS": soap_server.tls_port, "GRPC": rpc_server.port, "GRPC_TLS": rpc_server.tls_port}
    env = clean_env(**TEST_ENV, **{f"PLAYLISTS_{name}_PORT": str(port) for name, port in ports.items()})

    def run(script: str) -> subprocess.CompletedProcess:
        for name, default in DEFAULT_PORTS.items():
            script = script.replace(f"{DEFAULT_HOST}:{default}", f"{DEFAULT_HOST}:{ports[name]}")
        return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=root, env=env,
                              capture_output=True, text=True, timeout=120)
    return run


def server_blocks() -> list[tuple[str, str]]:
    """(file, script): each block that calls the servers, after the block that sets the variables it reads."""
    found = []
    for path in HANDOUT:
        setup = ""
        for block in filter(needs_servers, shell_blocks(path)):
            if block.startswith("eval "):
                setup = block
            found.append((str(path.relative_to(ROOT)), block if block is setup or not re.search(
                r"\$\{?(API_KEY|PASSWORD|CLIENT_ID|CLIENT_SECRET)\b", block) else setup + block))
    return found


@pytest.mark.parametrize("where,script", server_blocks(), ids=lambda x: x.splitlines()[0][:60])
def test_every_block_that_calls_the_servers_runs_as_printed(where, script, fresh_shell):
    done = fresh_shell(script)
    assert done.returncode == 0, f"{where}:\n{script}\n---\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"


def test_the_exercises_curl_lines_call_a_default_address_the_contract_has():
    """A hint's curl line runs once its variables are set; here: its address and path exist."""
    import json
    paths = json.loads((ROOT / "rest" / "openapi.json").read_text())["paths"]
    known = [re.sub(r"\{[^}]+\}", "[^/]+", p) + "$" for p in paths] + ["/soap$", "/oauth/token$"]
    addresses = {f"{DEFAULT_HOST}:{port}" for port in DEFAULT_PORTS.values()}
    curls = [(where, c) for where, c in exercise_commands() if c.startswith("curl ")]
    assert len(curls) >= 10
    for where, command in curls:
        url = next(w for w in shlex.split(command) if "://" in w)
        address, _, path = url.split("://", 1)[1].partition("/")
        assert address in addresses, (where, command)
        assert any(re.match(pattern, "/" + path.split("#")[0].split("?")[0]) for pattern in known), (where, command)
