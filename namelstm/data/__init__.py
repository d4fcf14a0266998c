"""Where names come from and how they are read: sources (directories, CSV), the alphabet and folding,
scripts and transliteration, letter case and suffixes, Han readings, the dataset, the split by name and
the batches.
"""
