"""Renderers: pure functions over one Report."""
