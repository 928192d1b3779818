"""LeNet-5 and its seeded, cross-fitted training."""
