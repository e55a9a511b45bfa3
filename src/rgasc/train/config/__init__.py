"""The training stage's configuration: the config tree (:mod:`.tree`), its sections beyond the
paper (:mod:`.recipes`, :mod:`.averaging`, :mod:`.selection`), the choices (:mod:`.choices`) and
the command-line options built from them (:mod:`.options`). Imports neither torch nor Lightning.
"""
