"""lego-prover: a LEGO-Prover-style neural theorem prover for Isabelle.

Proofs are built block by block from lemmas kept in a growing skill library; every
proof, lemma and theorem is accepted only when a real Isabelle server checked it.
"""

__version__ = "0.1.0"
