"""AnonConsole benchmarks: scripts that print figures (not timed tests). Run all: `./dev bench`."""
