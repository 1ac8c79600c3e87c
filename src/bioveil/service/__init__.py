"""The vault service: FastAPI over SQLAlchemy, with a Merkle-tree ledger."""
