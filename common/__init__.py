"""Small utilities shared by every package: atomic file writes and safetensors+JSON bundles."""
