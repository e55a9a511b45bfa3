"""The training stage's configuration: the config tree (:mod:`.tree`), its sections beyond the
paper (:mod:`.recipes`, :mod:`.averaging`, :mod:`.selection`) and the choices (:mod:`.choices`).
Every leaf carries its command-line help (:mod:`rgasc.cli.params` builds the options from it).
Imports neither torch nor Lightning.
"""
