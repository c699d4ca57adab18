"""Neural network modules and their checkpoint loaders (one module per network)."""
