"""The Isabelle layer: theory model, soundness guard, server protocol, checker, repair.

Only this layer decides whether a proof is verified, and only from a real Isabelle
server's reply.
"""
