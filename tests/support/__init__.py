"""What the test modules share: helpers here, one module per subject; fixtures live in
tests/conftest.py. No test module imports from another test module (tests/test_layout.py
checks it)."""
