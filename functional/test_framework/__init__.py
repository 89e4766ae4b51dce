"""sidebolt functional test framework (Python standard library only)."""
