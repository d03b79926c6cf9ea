"""search: mixed-precision bit-width search under a hardware budget. Not implemented yet (issue 5)."""
