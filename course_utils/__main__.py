import sys

from . import skip_slow_optional_imports

skip_slow_optional_imports()  # before anything imports nbformat

from .cli import main  # noqa: E402

sys.exit(main())
