"""Start Rasa or its action server without third-party deprecation warnings.

    python launch.py rasa run ...        (what the `rasa` script runs)
    python launch.py rasa_sdk ...        (the action server)

Rasa's libraries print pages of deprecation warnings on start (distutils, pkg_resources, jax,
SQLAlchemy 1.4, pyparsing through matplotlib): none is ours to fix, and they bury the lines that
matter in its log. PYTHONWARNINGS=ignore (bot/assistant.py, rasa_env) is not enough: Sanic turns
DeprecationWarning back on when it is imported, and Rasa shows every UserWarning once, which
pyparsing's deprecations also are. So it is the display of a deprecation that is dropped, in
Rasa's processes only; Rasa's own warnings still show.
"""

import runpy
import sys
import warnings

DEPRECATIONS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)
_show = warnings.showwarning


def _show_unless_deprecated(message, category, *args, **kwargs):
    if not issubclass(category, DEPRECATIONS):
        _show(message, category, *args, **kwargs)


warnings.showwarning = _show_unless_deprecated
module = sys.argv.pop(1)
sys.argv[0] = module
runpy.run_module(module, run_name="__main__", alter_sys=True)
