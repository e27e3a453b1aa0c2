import sys

from benchmarks.faults.harness import main

sys.exit(main())
