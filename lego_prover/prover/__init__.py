"""The prover: informal solver, decomposer, retrieval, formalizer, check-and-repair, harvest."""
