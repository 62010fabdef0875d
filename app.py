"""Start the chat page: python app.py [--host HOST] [--port PORT] [--share] (the same as `qa serve`).
The page itself is qa/ui.py."""

import sys

from qa.ui import main

if __name__ == "__main__":
    sys.exit(main())
