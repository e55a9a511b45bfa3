"""``python -m rgasc.data.realscenes --out DIR``: build the real-sound benchmark."""

import sys

from rgasc.data.realscenes.build import main

sys.exit(main())
