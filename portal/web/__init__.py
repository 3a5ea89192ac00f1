"""HTTP and WebSocket layer: thin handlers that parse, call the domain and render."""
