import sys

from facecodec.cli import main

sys.exit(main())
