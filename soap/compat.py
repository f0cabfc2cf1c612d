"""Spyne 2.14 on Python 3.12 and later: its own copy of `six` replaced by the real one.

Spyne 2.14 (its last release) vendors six 1.14 as `spyne.util.six`, whose `six.moves` works
through an import hook Python 3.12 removed (`find_module`): there `import spyne` fails with
"No module named 'spyne.util.six.moves'". Upstream fixed it on its master branch after the
release (arskom/spyne issues #700 and #711). Until a release carries it, this module puts the
real `six` (1.16 and later speak the new hook) in Spyne's place before Spyne is imported, plus
the one helper Spyne added to its copy, and registers the `six.moves` submodules Spyne imports
under Spyne's name. It does the same on 3.11, where it is not needed, so that every
interpreter runs the one same Spyne. On 3.13 Spyne also imports `cgi`, gone from the standard
library: the `legacy-cgi` package (requirements.txt) provides it.

Import this module before anything from `spyne`; `soap/__init__.py` does, so any `import soap…`
is enough.
"""
import operator
import sys
import types

import six

MOVES_SPYNE_IMPORTS = ("collections_abc", "http_cookies", "urllib", "urllib.parse", "urllib.request", "urllib.error")


def install() -> None:
    if "spyne" in sys.modules:
        raise RuntimeError("soap.compat must be imported before Spyne")
    spynes_six = types.ModuleType("spyne.util.six", six.__doc__)
    spynes_six.__dict__.update({k: v for k, v in vars(six).items() if not k.startswith("__")})
    spynes_six.get_function_name = operator.attrgetter("__name__")
    sys.modules["spyne.util.six"] = spynes_six
    sys.modules["spyne.util.six.moves"] = six.moves
    for name in MOVES_SPYNE_IMPORTS:
        sys.modules[f"spyne.util.six.moves.{name}"] = operator.attrgetter(name)(six.moves)


install()
