"""Datasets: synthetic generators with exact ground truth, and loaders for public layouts."""
