"""Fakes of services corral talks to that the tests cannot run for real (Docker)."""
