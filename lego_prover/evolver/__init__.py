"""The evolver: directional transformer and request solver, growing the library."""
