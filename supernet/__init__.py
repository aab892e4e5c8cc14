"""Torch modules: searchable networks (supernets), their ops, export, and pretraining."""
