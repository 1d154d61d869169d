"""The pytest plugin (entry point `pytest11: edge`): fixtures for testing workers in-process.

Registered for every pytest run in an environment where edge is installed, so importing
this module must stay cheap and must not fail.
"""
