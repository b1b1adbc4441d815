"""aligncheck engine: data and max margin, losses, network, dynamics, backends, metrics, claims, report."""
