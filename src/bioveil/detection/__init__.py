"""Face detection: the detector protocol and registry, one module per model, and the fused ensembles."""
