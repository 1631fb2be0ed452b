"""network's pages: the resource lists and forms, and the router and floating IP pages."""
