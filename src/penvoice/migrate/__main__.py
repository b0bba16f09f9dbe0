"""`python -m penvoice.migrate -path DIR -database URL up`."""

import sys

from penvoice.migrate.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
