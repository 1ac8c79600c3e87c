"""The agora: where verifiers ask owners for narrow, signed, expiring grants."""
