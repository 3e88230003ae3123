"""``python -m langgraph_observe``: the command line."""

from .cli import main

raise SystemExit(main())
