"""Development-only helpers (never packaged into the Lambdas)."""
