"""Tests of sim: the doubles through the real SDK clients (conformance with the official examples)."""
