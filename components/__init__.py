"""Reusable pieces of the Aurigraph V11 cluster program (see DESIGN.md for the layers)."""
