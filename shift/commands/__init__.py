"""The `shift` subcommands, one module each (`shift.cli` lists them).

A command module imports only light modules at its top (click, the configuration classes, the
checks); each command imports the model stack inside its body, after its options are checked.
That laziness is for speed: `shift --help`, `shift <command> --help` and a bad option answer
without importing torch (tests/shift/test_cli_imports.py, benchmarks/cli_latency.py).
"""
