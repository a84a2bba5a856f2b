"""`python -m workbench.cli ...` is `wb ...`: what `wb train --nproc N` runs in each process under torchrun."""

import sys

from workbench.cli.main import main

sys.exit(main())
