"""Handlers that ship with vocode-receiver, as defaults and as examples for teams."""
