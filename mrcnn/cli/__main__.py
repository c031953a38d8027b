"""`python -m mrcnn.cli`, as the single-file mrcnn/cli.py ran."""
import sys

from mrcnn.cli.main import main

sys.exit(main())
