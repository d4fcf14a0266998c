"""Experiments across runs: compare over seeds, cross-validation, the report's section 3 analyses
(gradients, memory, stability), seed and bootstrap statistics, and the worker pool they share.
"""
