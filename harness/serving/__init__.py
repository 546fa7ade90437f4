"""Role models: specs to inspect models, local weights, GPU placement, stable cache keys."""
