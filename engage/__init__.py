"""Engage: keep the graduates of an officer training programme connected."""
