"""Newsletters: issues and recurring series, audiences, personalised sections, archive, stats."""
