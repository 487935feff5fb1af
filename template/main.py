"""Flex Template entry file: the launcher runs it (``FLEX_TEMPLATE_PYTHON_PY_FILE``); so can you.

Kept outside the installed ``transactions_pipeline`` package, as in Google's
``pipeline_with_dependencies`` sample: running this file puts its own folder on ``sys.path``,
and that folder holds no module of the package, so the launcher imports the installed package
exactly as the workers do. ``python template/main.py --help`` lists the parameters.
"""

import sys

from transactions_pipeline.launch import main

if __name__ == "__main__":
    sys.exit(main())
