"""Demo data: simulated refugees and caseworkers talking through the real engine and desk."""
