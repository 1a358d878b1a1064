"""The operator console: a few server-rendered pages that the receiver serves itself.

Off unless ``RECEIVER_CONSOLE_TOKENS`` is set; then ``receiver serve`` and ``receiver
worker`` serve it at ``RECEIVER_CONSOLE_PATH`` (``/console``). See ``docs/console.md``.

Modules: :mod:`.app` (the mounted app and what pages share), :mod:`.auth` and :mod:`.guard`
(tokens, sessions, CSRF), :mod:`.views` (what may be shown: the PII rule),
:mod:`.queries` (a call's timeline, the overview), :mod:`.pages`, :mod:`.actions` and
:mod:`.tail` (the pages), ``templates/`` and ``static/``.
"""
