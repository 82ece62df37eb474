import sys

from facev3.cli import main

sys.exit(main())
