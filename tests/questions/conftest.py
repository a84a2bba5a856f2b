"""A small real index of three documents of different lengths, for writing questions from."""

from __future__ import annotations

import pytest

from workbench.corpus import Document

MANUAL = {
    "install.md": "# Installing\n\nThe library needs GNU MP 5.0.0 or higher. Run `./configure --prefix=/opt/mpfr`, then "
                  "`make install`. The build takes about 4 minutes on two cores.\n\nThe header file is mpfr.h and "
                  "the default precision is 53 bits.",
    "rounding.md": "# Rounding\n\nThe rounding mode MPFR_RNDN rounds to nearest. MPFR_RNDZ rounds toward zero. "
                   "The function mpfr_set_default_rounding_mode changes the default mode, and "
                   "mpfr_get_default_rounding_mode returns it. Paul Zimmermann wrote the first version in 1999.\n\n"
                   "| Mode | Meaning |\n| --- | --- |\n| MPFR_RNDU | toward plus infinity |\n| MPFR_RNDD | toward minus infinity |",
    "history.md": "MPFR started in 1998 at INRIA in Nancy. Version 4.2.0 was released on 6 January 2023.",
}


@pytest.fixture
def manual_index(config):
    from workbench.indexing import build_index

    documents = [Document(name, text, {"title": name.removesuffix(".md")}) for name, text in MANUAL.items()]
    return build_index("manual", documents, config=config)
