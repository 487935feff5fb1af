"""Flex Template entry file: the launcher runs it (``FLEX_TEMPLATE_PYTHON_PY_FILE``); so can you.

The file sits alone in its folder, outside the installed ``transactions_pipeline`` package (the
shape of Google's ``pipeline_with_dependencies`` sample). Our reason: running it puts its own
folder on ``sys.path``, and that folder holds no module, so the launcher imports the installed
package exactly as the workers do (``tests/unit/template/test_main.py``).
``python template/main.py --help`` lists the parameters.
"""

import sys

from transactions_pipeline.launch import main

if __name__ == "__main__":
    sys.exit(main())
