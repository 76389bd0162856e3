"""Helpers shared by the tests: fakes of peers on real sockets, processes, data."""
