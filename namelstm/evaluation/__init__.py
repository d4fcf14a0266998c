"""Scoring a trained model: metrics on held-out names, selective prediction (risk-coverage) and the
figures.
"""
