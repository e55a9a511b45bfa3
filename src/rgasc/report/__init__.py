"""A report page to open in a browser: listen to the mistakes, see the events behind them.

:func:`write_report` builds a static folder (``index.html``, ``clips/``, ``assets/``) from the
files a run wrote (:mod:`rgasc.report.sources`); :mod:`rgasc.report.collect` turns them into
views (pure), :mod:`rgasc.report.render` writes the pages with Jinja2 and
:mod:`rgasc.report.audio` the listening copies.
"""

from __future__ import annotations

from rgasc.report.build import SPLITS, ReportResult, write_report
from rgasc.report.sources import report_dir

__all__ = ["SPLITS", "ReportResult", "report_dir", "write_report"]
