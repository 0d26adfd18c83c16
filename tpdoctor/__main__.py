import sys

from tpdoctor.cli import main

sys.exit(main())
