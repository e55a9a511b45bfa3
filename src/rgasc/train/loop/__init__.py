"""The Lightning loop: the data module (:mod:`.data`), the LightningModule (:mod:`.module`),
callbacks (:mod:`.callbacks`, :mod:`.reproducible`), one training session (:mod:`.session`,
:mod:`.quiet`) and the run's CSV log (:mod:`.logs`). Lightning is imported here only.
"""
