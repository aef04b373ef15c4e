"""``python -m course_utils.instructor.sandbox launch POLICY -- KERNEL...``: the launcher."""

import sys

from .launcher import main

sys.exit(main())
