"""Networks from the spec: the layer types (layer_type, cost, and one module per family,
registered in layers.LAYERS), the one walk over the layer tree (tree), the builder
(build) and the activations kept for backward (saved)."""
