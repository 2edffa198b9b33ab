"""Readers and writers: labeled and unlabeled review files (``_labeled``), the IMDB data set
(``_data``), score output (``_output``) and progress lines (``_progress``)."""
