"""Pseudo-labels: tagging a dataset with a teacher (:mod:`.tagging`), and the label files."""

from rgasc.labels.files import PseudoLabels, as_labels, read_labels, write_labels

__all__ = ["PseudoLabels", "as_labels", "read_labels", "write_labels"]
