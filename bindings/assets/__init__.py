"""Workers Static Assets (`[assets]`): files served before the worker, and `env.ASSETS`.

`binding` holds the contract (`KIND`: config, `env.ASSETS`, the request-path middleware
that routes as Cloudflare's router worker does); `server` is the asset worker (what one
request gets); `html_handling` finds the file a path names; `files` reads the directory;
`rules` parses `_headers`, `_redirects` and `run_worker_first` patterns.
"""
