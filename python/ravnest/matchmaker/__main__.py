import sys

from ravnest.matchmaker import parse_arguments, serve

sys.exit(serve(parse_arguments()))
