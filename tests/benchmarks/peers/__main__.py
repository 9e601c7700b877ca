import sys

from peers.bench import main

sys.exit(main())
