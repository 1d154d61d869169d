"""Testing worker code in-process: a harness (`emulator.testing.harness`) and a pytest plugin."""
