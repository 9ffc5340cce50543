"""Networks from the spec: the layer registry, the builder and the summary."""
