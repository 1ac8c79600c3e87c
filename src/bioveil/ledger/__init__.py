"""Append-only audit ledger: RFC 9162 Merkle trees, inclusion and consistency proofs, signed checkpoints."""
