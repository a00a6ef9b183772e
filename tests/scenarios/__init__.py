"""Whole stories and proofs under load: the seed story, sandbox, chaos, faults, fuzzing, security, secrets."""
