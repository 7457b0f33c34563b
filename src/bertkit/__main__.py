from bertkit.cli import main
import sys

sys.exit(main())
