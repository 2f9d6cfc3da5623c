"""The HTTP edge: what the dashboard takes from a request before any view sees it (the client's
address behind trusted proxies, the request's text encoding) and what its access logs keep."""
