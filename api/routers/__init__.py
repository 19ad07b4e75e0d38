"""HTTP routers of the village5g API (thin: parse, call the domain or the store, shape)."""
