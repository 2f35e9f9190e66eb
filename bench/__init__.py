"""Benchmarks and build tools (`make bench`, `make package`)."""
