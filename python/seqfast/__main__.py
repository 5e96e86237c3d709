import sys

from seqfast.cli import main

sys.exit(main())
