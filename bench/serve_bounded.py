"""``python -m bench.serve_bounded MODULE:FACTORY PORT``: an app factory served the way
``receiver serve`` serves (``receiver.serving.serve``: uvloop, httptools, the HTTP bounds),
for the intake benchmark's ``bounded`` target. SIGINT stops it gracefully."""

from __future__ import annotations

import sys
from importlib import import_module

from receiver.serving import serve
from receiver.settings import load_settings

module, _, factory = sys.argv[1].partition(":")
serve(getattr(import_module(module), factory)(), load_settings(), host="127.0.0.1",
      port=int(sys.argv[2]))  # fmt: skip
