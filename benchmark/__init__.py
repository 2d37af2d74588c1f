"""Benchmarks of facecodec: speed of each part, rate-distortion runs."""
