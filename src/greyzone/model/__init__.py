"""The model families (scorer and embedder), their seeded training, and cross-fitting."""
