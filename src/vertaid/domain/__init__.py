"""The domain: the case, the policy engine and the clinical scores — pure, with no I/O.

Nothing here reads a file, a database or a clock. The engine takes a validated case and a loaded
knowledge pack and returns the same assessment for the same pair, every time.
"""
